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
  'usage.onlyFor': '{options} are for {command}',
  'usage.unknownOperation': "unknown {command} operation '{value}': use {allowed}",
  'usage.atMostOne': '{command} takes at most one {name}',
  'usage.needsAtLeastOne': '{command} needs at least one {name}',
  'usage.exactlyOne': '{command} needs exactly one of {a} and {b}',
  'usage.needsOneOf': '{command} needs {a} or {b}',
  'usage.needsBoth': '{command} needs {a} and {b}',
  'usage.together': '{a} and {b} go together',
  'usage.takesNo': '{option} takes no {name}',
  'usage.wholeNumberNot': "{option} must be a whole number, not '{value}'",
  'usage.range': "{option} takes a whole number from {min} to {max}, not '{value}'",
  'usage.authKeyFile': '--auth-key-file is for --no-encryption (a password authenticates)',
  'usage.levelNeedsZstd': '--compression-level needs zstd compression, not --compression none',
  'usage.diskNeedsTo': '--disk needs --to PATH: where to write the disk',
  'usage.diskDefinesNoVm':
    '--disk writes one disk to a file and defines no VM: no --as, --start, --allow-host-access, --graphics-password-file or --dry-run',
  'usage.noPassword': '--graphics-password-file {file} holds no password',
  'usage.notLoopback':
    '--listen {value} is not a loopback address: it needs --tls-cert and --tls-key',
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
  'usage.onlyFor': '{options} hanya untuk {command}',
  'usage.unknownOperation': "operasi {command} '{value}' tidak dikenal: pakai {allowed}",
  'usage.atMostOne': '{command} menerima paling banyak satu {name}',
  'usage.needsAtLeastOne': '{command} perlu paling sedikit satu {name}',
  'usage.exactlyOne': '{command} perlu tepat satu dari {a} dan {b}',
  'usage.needsOneOf': '{command} perlu {a} atau {b}',
  'usage.needsBoth': '{command} perlu {a} dan {b}',
  'usage.together': '{a} dan {b} harus dipakai bersama',
  'usage.takesNo': '{option} tidak menerima {name}',
  'usage.wholeNumberNot': "{option} harus bilangan bulat, bukan '{value}'",
  'usage.range': "{option} menerima bilangan bulat dari {min} sampai {max}, bukan '{value}'",
  'usage.authKeyFile': '--auth-key-file untuk --no-encryption (kata sandi sudah mengautentikasi)',
  'usage.levelNeedsZstd': '--compression-level perlu kompresi zstd, bukan --compression none',
  'usage.diskNeedsTo': '--disk perlu --to PATH: ke mana disk ditulis',
  'usage.diskDefinesNoVm':
    '--disk menulis satu disk ke file dan tidak mendefinisikan VM: tanpa --as, --start, --allow-host-access, --graphics-password-file atau --dry-run',
  'usage.noPassword': '--graphics-password-file {file} tidak berisi kata sandi',
  'usage.notLoopback': '--listen {value} bukan alamat loopback: perlu --tls-cert dan --tls-key',
};
