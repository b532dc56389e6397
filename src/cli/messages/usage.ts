/**
 * Usage errors the CLI runner finds itself (src/cli/run.ts): what node:util's parseArgs refuses,
 * and a wrong number of arguments, in English and Indonesian. Commands' own usage errors can be
 * said through these keys too (UsageError.say).
 */

export const en = {
  'usage.unknownOption': "unknown option '{option}'",
  'usage.optionNeedsValue': "option '{option}' needs a value",
  'usage.optionDashValue':
    "option '{option}' needs a value; a value that starts with '-' is written {option}=VALUE",
  'usage.optionTakesNoValue': "option '{option}' takes no value",
  'usage.missingArguments': 'missing {names}',
  'usage.unexpectedArgument': "unexpected argument '{value}'",
} as const;

export const id: Record<keyof typeof en, string> = {
  'usage.unknownOption': "opsi '{option}' tidak dikenal",
  'usage.optionNeedsValue': "opsi '{option}' perlu nilai",
  'usage.optionDashValue':
    "opsi '{option}' perlu nilai; nilai yang diawali '-' ditulis {option}=NILAI",
  'usage.optionTakesNoValue': "opsi '{option}' tidak menerima nilai",
  'usage.missingArguments': '{names} belum diberikan',
  'usage.unexpectedArgument': "argumen '{value}' tidak diharapkan",
};
