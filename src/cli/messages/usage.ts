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
  'usage.oneOf': "{option} must be {allowed}, not '{value}'",
  'usage.exclusive': '{a} and {b} exclude each other',
  'usage.needs': '{option} needs {other}',
  'usage.required': '{option} is required',
  'usage.same': '{a} and {b} are the same',
  'usage.atLeast': '{option} must be at least {min}',
  'usage.wholeNumber': '{option} must be a whole number >= {min}',
  'usage.notDuration': "not a duration: '{value}' (e.g. 120s, 2m, 500ms)",
  'usage.notPort': "not a port number: '{value}'",
  'usage.notSize': "not a size: '{value}' (e.g. 10G, 512M)",
  'usage.shutdownIsLive':
    '--consistency shutdown is for live backups: a cold backup is one already',
  'usage.keyCommand': "unknown key command '{value}': list, add, remove ID or passwd",
  'usage.serviceListen':
    "--listen for the service takes a loopback address and port (127.0.0.1:8765), not '{value}'",
} as const;

export const id: Record<keyof typeof en, string> = {
  'usage.unknownOption': "opsi '{option}' tidak dikenal",
  'usage.optionNeedsValue': "opsi '{option}' perlu nilai",
  'usage.optionDashValue':
    "opsi '{option}' perlu nilai; nilai yang diawali '-' ditulis {option}=NILAI",
  'usage.optionTakesNoValue': "opsi '{option}' tidak menerima nilai",
  'usage.missingArguments': '{names} belum diberikan',
  'usage.unexpectedArgument': "argumen '{value}' tidak diharapkan",
  'usage.oneOf': "{option} harus {allowed}, bukan '{value}'",
  'usage.exclusive': '{a} dan {b} tidak bisa dipakai bersama',
  'usage.needs': '{option} perlu {other}',
  'usage.required': '{option} wajib diberikan',
  'usage.same': '{a} dan {b} sama',
  'usage.atLeast': '{option} minimal {min}',
  'usage.wholeNumber': '{option} harus bilangan bulat >= {min}',
  'usage.notDuration': "bukan durasi: '{value}' (misalnya 120s, 2m, 500ms)",
  'usage.notPort': "bukan nomor port: '{value}'",
  'usage.notSize': "bukan ukuran: '{value}' (misalnya 10G, 512M)",
  'usage.shutdownIsLive':
    '--consistency shutdown untuk backup live: backup dingin sudah dengan VM mati',
  'usage.keyCommand': "perintah kunci '{value}' tidak dikenal: list, add, remove ID atau passwd",
  'usage.serviceListen':
    "--listen untuk layanan menerima alamat loopback dan port (127.0.0.1:8765), bukan '{value}'",
};
