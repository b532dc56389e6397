/**
 * Every error code of the registry (src/util/error-registry.ts) in Indonesian, in the seed
 * tutorial's own terms. The compiler checks the catalogue against the registry: a code missing
 * here, a parameter of the English text dropped, or a parameter the English text does not have
 * is a compile error (see `checked` below). `{message}` is the thrower's English detail, kept
 * where the text varies (I/O, protocol, bugs).
 */
import type {
  ERROR_FAMILIES,
  ERRORS,
  RegisteredCode,
  TemplateParams,
} from '../util/error-registry.js';

type Missing<S extends string, P extends string> = P extends unknown
  ? S extends `${string}{${P}}${string}`
    ? never
    : P
  : never;

type Extra<S extends string, Allowed extends string> = Exclude<TemplateParams<S>, Allowed>;

/** Each entry as written, or a type that names the parameter it lost or invented. */
type Checked<T, Source extends Record<string, string>> = {
  [K in keyof Source]: K extends keyof T
    ? T[K] extends string
      ? [Missing<T[K], TemplateParams<Source[K]>>] extends [never]
        ? [Extra<T[K], TemplateParams<Source[K]> | 'message'>] extends [never]
          ? T[K]
          : `has a parameter the English text lacks: {${Extra<T[K], TemplateParams<Source[K]>>}}`
        : `lost the parameter {${Missing<T[K], TemplateParams<Source[K]>>}}`
      : never
    : never;
};

export const ERRORS_ID = {
  XML_INVALID: 'XML tidak valid: {message}',
  BLAKE3_BAD_KEY: 'kunci BLAKE3 tidak valid: {message}',
  BLAKE3_NOT_READY: 'BLAKE3 belum siap: {message}',
  INTERNAL: 'kesalahan internal brankas (bug, mohon laporkan): {message}',

  LIBVIRT_CONNECTION_CLOSED: 'koneksi ke libvirt terputus: {message}',
  LIBVIRT_CONNECT_FAILED: 'tidak bisa terhubung ke libvirt: {message}',
  LIBVIRT_TIMEOUT: 'libvirt tidak menjawab tepat waktu: {message}',
  LIBVIRT_KEEPALIVE_TIMEOUT: 'koneksi ke libvirt tidak lagi menjawab (keepalive): {message}',
  LIBVIRT_BAD_URI: 'URI libvirt tidak valid: {message}',
  LIBVIRT_AUTH_UNSUPPORTED: 'cara autentikasi libvirt ini tidak didukung: {message}',
  LIBVIRT_INVALID_ARGUMENT: 'argumen tidak valid untuk libvirt: {message}',
  LIBVIRT_PROTOCOL: 'pelanggaran protokol RPC libvirt: {message}',
  XDR_MALFORMED: 'data XDR dari libvirt rusak: {message}',
  RPC_MALFORMED_FRAME: 'frame RPC dari libvirt rusak: {message}',

  NBD_CONNECT_FAILED: 'tidak bisa terhubung ke server NBD: {message}',
  NBD_CONNECTION_CLOSED: 'koneksi NBD terputus: {message}',
  NBD_TIMEOUT: 'server NBD tidak menjawab tepat waktu: {message}',
  NBD_PROTOCOL: 'pelanggaran protokol NBD: {message}',
  NBD_UNSUPPORTED: 'server NBD tidak mendukung ini: {message}',
  NBD_READ_ONLY: 'export NBD hanya-baca: {message}',
  NBD_META_CONTEXT_UNAVAILABLE: 'konteks metadata NBD tidak tersedia: {message}',
  NBD_INVALID_ARGUMENT: 'argumen NBD tidak valid: {message}',
  NBD_SERVER_LISTEN_FAILED: 'tidak bisa melayani NBD di {address}: {message}',
  NBD_CLIENT_MISBEHAVED: 'klien NBD melanggar protokol: {message}',
  QEMU_NBD_NOT_INSTALLED: 'qemu-nbd tidak terpasang: {message}',
  QEMU_NBD_IMAGE_NOT_FOUND: 'image disk tidak ditemukan: {message}',
  QEMU_NBD_IMAGE_LOCKED: 'image disk sedang dipakai proses lain (terkunci): {message}',
  QEMU_NBD_START_FAILED: 'qemu-nbd gagal dijalankan: {message}',
  QEMU_NBD_START_TIMEOUT: 'qemu-nbd tidak siap tepat waktu: {message}',

  IMAGE_UNSUPPORTED: '{path}: fitur image tidak didukung: {feature}',
  IMAGE_CORRUPT: '{path}: image rusak: {problem}',
  IMAGE_NOT_FOUND: 'file image tidak ditemukan: {message}',
  IMAGE_IO: 'gagal membaca atau menulis image: {message}',
  IMAGE_RANGE: 'rentang di luar disk: {message}',
  IMAGE_CLOSED: 'image sudah ditutup: {message}',
  IMAGE_WRITER_OPTIONS: 'opsi penulis image tidak valid: {message}',
  IMAGE_WRITER_BUSY: 'penulis image sedang sibuk: {message}',
  EXTENTS_NOT_CONTIGUOUS: 'peta extent tidak berurutan: {message}',
  ZSTD_FRAME_INVALID: 'frame zstd rusak: {message}',

  REPO_NOT_FOUND: 'tidak ada repositori di {location}',
  REPO_EXISTS: 'sudah ada repositori di {location}',
  REPO_BAD_FORMAT: 'isi repositori tidak berformat brankas: {message}',
  REPO_UNSUPPORTED_VERSION: 'versi format repositori tidak didukung: {message}',
  REPO_INVALID_ARGUMENT: 'argumen tidak valid untuk repositori: {message}',
  REPO_OBJECT_NOT_FOUND: 'objek tidak ada di repositori: {message}',
  REPO_IO: 'I/O repositori gagal: {message}',
  REPO_LOCKED: 'repositori sedang dikunci oleh proses lain: {message}',
  REPO_BACKUP_NOT_FOUND: "tidak ada backup '{backup}' di repositori",
  REPO_DISK_NOT_FOUND: "backup {backup} tidak punya disk '{disk}'",
  REPO_POLICY_EMPTY: 'kebijakan tanpa aturan keep akan menghapus semua backup',
  REPO_CLOSED: 'repositori sudah ditutup: {message}',
  REPO_INTERNAL:
    'pemeriksaan internal brankas gagal, jadi ia berhenti sebelum menulis data yang salah (ini bug: mohon laporkan beserta pesan ini): {message}',
  REPO_WRONG_PASSWORD: 'password salah: {message}',
  REPO_PASSWORD_REQUIRED: 'perlu password repositori: {message}',
  REPO_KEY_NOT_FOUND: 'kunci tidak ditemukan: {message}',
  REPO_LAST_KEY: 'kunci terakhir tidak boleh dihapus: datanya akan hilang',
  REPO_AUTH_KEY_REQUIRED:
    'ini memerlukan kunci autentikasi repositori di {location}: isi BRANKAS_AUTH_KEY_FILE dengan berkas kuncinya',
  REPO_AUTH_FAILED:
    'kunci autentikasi di {file} tidak mengautentikasi repositori di {location}: kunci itu milik repositori lain, atau repositori diganti atau diubah oleh orang yang tidak memegang kunci',
  REPO_CHUNK_CORRUPT: 'chunk rusak: {message}',
  REPO_S3_AUTH:
    'server S3 di {endpoint} menolak kredensialnya ({reason}); isi AWS_ACCESS_KEY_ID dan AWS_SECRET_ACCESS_KEY, atau AWS_PROFILE',
  REPO_S3_NO_BUCKET: 'tidak ada bucket {bucket} di {endpoint}; buat dulu bucket itu',
  REPO_S3_UNREACHABLE: 'server S3 di {endpoint} tidak dapat dihubungi: {reason}',
  REPO_S3_REQUEST: 'server S3 di {endpoint} gagal {operation} {object}: {reason}',
  REPO_S3_WRITE_DENIED:
    'server S3 di {endpoint} menolak penulisan ke bucket {bucket} ({reason}): kredensialnya boleh membaca tetapi tidak menulis',
  // repo copy (src/repo/copy/, docs/repo-copy.md)
  REPO_COPY_CONFLICT:
    'target {location} sudah memiliki backup {backup} yang bukan salinan backup sumber dengan id itu ({reason}); tidak ada yang disalin',
  REPO_COPY_VERIFY:
    'membaca kembali salinan backup {backup} di {location} gagal: {reason}; backup itu tidak dicantumkan di sana (repo gc menghapus yang sudah ditulis)',
  REPO_COPY_NOTHING: "sumber {location} tidak memiliki backup maupun VM bernama '{name}'",
  // live backups, robustness (faults, doctor)
  REPO_FULL: 'repositori penuh (ruang di filesystem-nya habis): {message}',
  BACKUP_LIVE_NO_AGENT:
    "VM '{vm}' tidak bisa di-backup application-consistent ({reason}: tidak ada guest agent yang menjawab untuk membekukan filesystem-nya); tidak ada yang dilakukan. Tanpa --consistency application backup-nya crash-consistent.",
  BACKUP_LIVE_FREEZE_FAILED:
    "guest agent VM '{vm}' tidak bisa membekukan filesystem-nya ({reason}): --consistency application tidak terpenuhi; tidak ada yang dicatat",
  // live backups, a guest agent that hangs or will not thaw
  BACKUP_LIVE_THAW_FAILED:
    "guest agent VM '{vm}' tidak mencairkan filesystem-nya setelah {attempts} percobaan ({agentError}): guest mungkin masih beku; tidak ada yang dicatat. Cairkan dengan 'brankas doctor {vm} --fix' (atau 'virsh domfsthaw {vm}') begitu agent-nya menjawab",
  REPO_CHUNK_MISSING: 'chunk hilang: {message}',
  REPO_PACK_CORRUPT: 'pack rusak: {message}',
  REPO_INDEX_CORRUPT: 'indeks rusak: {message}',
  REPO_FIXED_INDEX_CORRUPT: 'indeks disk sebuah backup rusak: {message}',
  REPO_MANIFEST_CORRUPT: 'manifest backup rusak: {message}',
  REPO_CONFIG_CORRUPT: 'konfigurasi repositori rusak: {message}',
  REPO_BAD_CHUNK_SIZE: 'ukuran chunk harus pangkat dua dari {min} sampai {max}, bukan {value} byte',
  REPO_BAD_SUBSET:
    "--subset '{subset}' bukan n/t (1 <= n <= t: kelompok ke-n dari t kelompok pack) atau x% (0 < x <= 100)",
  REPO_BAD_LEVEL: 'level kompresi harus bilangan bulat dari {min} sampai {max}, bukan {value}',
  REPO_PASSWORD_FILE: '{variable} menunjuk ke {path}, yang tidak bisa dibaca ({errno})',
  REPO_PASSWORD_COMMAND_FAILED: 'perintah password ({variable}) gagal: {reason}',
  REPO_PASSWORD_COMMAND_TIMEOUT:
    'perintah password ({variable}) tidak selesai dalam {seconds} dtk; perintahnya dihentikan (BRANKAS_PASSWORD_TIMEOUT mengatur batasnya)',

  VM_NOT_FOUND: "tidak ada VM bernama '{vm}'",
  SNAPSHOT_NOT_FOUND: "VM '{vm}' tidak punya snapshot bernama '{snapshot}'",
  SNAPSHOT_EXISTS: "VM '{vm}' sudah punya snapshot bernama '{snapshot}'",
  SNAPSHOT_INVALID_NAME: "'{snapshot}' tidak bisa dipakai sebagai nama snapshot: {reason}",
  SNAPSHOT_RAW_DISK:
    "VM '{vm}' tidak bisa diambil snapshot internal: disk {disk} ({source}) berformat '{format}'. Snapshot hanya berfungsi jika Anda menggunakan format disk 'qcow2'; format 'raw' tidak mendukung snapshot internal. Jalan keluar: konversi disk ke qcow2 (matikan VM, 'qemu-img convert -O qcow2 {source} BARU.qcow2', arahkan VM ke BARU.qcow2), atau ambil snapshot eksternal dengan --disk-only.",
  SNAPSHOT_HAS_CHILDREN:
    "snapshot '{snapshot}' dari VM '{vm}' punya snapshot turunan ({children}); hapus sekaligus dengan --children, atau hapus turunannya dulu",
  SNAPSHOT_EXTERNAL_UNSUPPORTED: 'snapshot eksternal tidak bisa diproses di sini: {message}',
  // snapshots beside live backups' checkpoints (docs/live-backups.md)
  SNAPSHOT_FOREIGN_CHECKPOINTS:
    "VM '{vm}' punya checkpoint yang bukan buatan brankas ({checkpoints}): libvirt menolak snapshot {operation} selama checkpoint itu ada, dan backup inkremental alat lain bergantung padanya. Hapus dengan alat itu (atau 'virsh checkpoint-delete'), lalu coba lagi.",
  SNAPSHOT_CHECKPOINTS_MANAGED_SAVE:
    "VM '{vm}' mati dengan state memori tersimpan (managed save) dan punya checkpoint brankas ({checkpoints}): libvirt menolak snapshot {operation} selama checkpoint ada, dan menghapusnya butuh VM dinyalakan, yang akan memakai state tersimpan itu. Nyalakan VM (ia melanjutkan dari state tersimpan), lalu coba lagi.",
  CONFIRMATION_REQUIRED:
    '{warning} Ini bukan terminal: tambahkan --yes untuk revert tanpa ditanya.',
  GUEST_UNAVAILABLE: 'guest tidak bisa dihubungi: {message}',
  GUEST_COMMAND_FAILED: 'perintah di dalam guest gagal: {message}',
  GUEST_IMAGES_MISSING: 'image guest kecil tidak tersedia: {message}',
  LAB_CHECK_FAILED: 'pemeriksaan eksperimen gagal: {message}',
  BACKUP_SHUTDOWN_TIMEOUT:
    "VM '{vm}' tidak mati dalam {timeoutSeconds} dtk; VM dibiarkan berjalan dan tidak ada yang di-backup. Pastikan guest menanggapi shutdown ACPI (atau menjalankan QEMU guest agent), beri waktu lebih dengan --shutdown-timeout, atau pakai --force-off-after-timeout.",
  BACKUP_UNSUPPORTED_DISK:
    "VM '{vm}' punya disk yang tidak bisa dibaca brankas secara offline (disk jaringan atau volume)",
  BACKUP_INTERRUPTED: 'backup dihentikan: {message}',
  BACKUP_NOT_FOUND:
    "tidak ada backup ber-id '{backup}' dan tidak ada backup dari VM bernama '{backup}'",
  RESTORE_NO_XML: 'backup {backup} tidak punya XML domain untuk didefinisikan',
  RESTORE_VM_EXISTS:
    "VM bernama '{vm}' sudah terdefinisi; restore dengan --as NAMABARU di sampingnya, atau dengan --force untuk menggantikan definisi dan filenya (kasus bencana: disknya hilang)",
  RESTORE_VM_RUNNING: "VM '{vm}' sedang berjalan: matikan dulu sebelum me-restore di atasnya",
  RESTORE_FILE_EXISTS:
    '{path} sudah ada; brankas tidak menimpa file tanpa --force (atau restore dengan --to ke direktori lain)',
  RESTORE_SOCKET_PATH_TOO_LONG:
    'socket {path} milik VM hasil restore lebih panjang dari {max} byte yang boleh dimiliki path socket unix; restore ke direktori yang lebih pendek (--to)',
  RESTORE_NO_SPACE:
    'ruang di {dir} tidak cukup untuk me-restore {disk} dari backup {backup}; tidak ada yang tertinggal. Kosongkan sebagian ruang atau restore --to ke direktori lain.',
  RESTORE_DISK_NOT_FOUND:
    "backup {backup} dari {vm} tidak punya disk bernama '{disk}'; disk yang ada: {disks}",
  GUEST_WORKDIR_UNSAFE:
    '{path} tidak bisa dipakai untuk guest sementara ({problem}). Harus berupa direktori milik pengguna ini, bukan symbolic link, dan tidak bisa ditulis orang lain; hapus (setelah memeriksa siapa yang membuatnya) lalu coba lagi.',
  BACKUP_DAMAGED: 'backup {backup} rusak dan tidak bisa di-restore: {reason}',
  BACKUP_LATEST_DAMAGED:
    "backup terbaru VM '{vm}' rusak ({damaged}); backup utuh terbaru adalah {previous}: sebutkan ID-nya, atau tambahkan --skip-damaged untuk memakainya",
  REPO_NEEDS_REPAIR:
    "repositori punya kerusakan yang tidak bisa dilewati perintah ini ({count} run indeks rusak); jalankan 'brankas repo repair' dulu",
  RESTORE_INVALID_NAME: "'{name}' tidak bisa menjadi nama VM hasil restore: {reason}",
  RESTORE_HOST_ACCESS:
    "restore backup {backup} sebagai VM '{vm}' akan memberinya akses ke host yang tidak dimiliki VM asalnya: {parts}. Tidak ada yang ditulis. Periksa XML yang akan di-define (--dry-run menampilkannya); restore --to ke direktori tersendiri, atau dengan --allow-host-access untuk mengizinkannya",
  RESTORE_PATH_UNUSABLE: '{path} tidak bisa dipakai: {reason} ({errno})',
  MOUNT_DISK_NOT_FOUND:
    "backup {backup} dari {vm} tidak punya disk bernama '{disk}'; disk yang ada: {disks}",
  MOUNT_NOT_LOOPBACK:
    "brankas mount hanya melayani di loopback (127.0.0.1 atau ::1), bukan di '{host}': disk sebuah backup bukan untuk jaringan",
  VM_BUSY:
    "VM '{vm}' sedang dipakai: {job} (proses {pid}) mengerjakannya sejak {since}; coba lagi setelah selesai, atau tambahkan --wait",
  STATE_DIR_UNUSABLE:
    'direktori state {dir} tidak bisa dipakai ({reason}); arahkan BRANKAS_STATE_DIR ke direktori yang boleh ditulis brankas',
  BACKUP_LIVE_NOT_RUNNING:
    "VM '{vm}' sedang {state}: live backup butuh VM yang berjalan. Pakai --mode cold (atau auto, bawaannya) untuk mem-backup VM yang mati.",
  BACKUP_LIVE_VM_STOPPED:
    "VM '{vm}' berhenti selama live backup-nya ({event}); tidak ada yang tercatat.",
  BACKUP_LIVE_JOB_FAILED:
    "job backup VM '{vm}' berakhir sebelum brankas selesai membacanya ({reason}); tidak ada yang tercatat.",
  JOB_NOT_FOUND: "tidak ada job dengan id '{job}'",
  JOB_HISTORY_UNUSABLE: 'riwayat job {path} tidak bisa dipakai: {message}',
  // instant recovery (brankas run)
  RUN_NOT_FOUND:
    "tidak ada VM bernama '{vm}' yang berjalan dari backup di sini (brankas run --list menampilkan yang ada)",
  RUN_VM_DEPENDS:
    "VM '{vm}' masih membaca disknya dari backup {backup}, dilayani proses {pid}: tanpanya VM berhenti sejenak pada pembacaan berikutnya. Jadikan lokal dulu (brankas run --persist {vm}) atau hapus VM-nya, atau hentikan dengan --force",
  RUN_SERVER_FAILED:
    "proses untuk melayani backup {backup} bagi VM '{vm}' gagal dimulai: {message}",
  RUN_SERVER_ALIVE:
    "backup {backup} masih dilayani untuk VM '{vm}' (proses {pid}): tidak ada yang perlu dilanjutkan",
  RUN_PERSIST_FAILED:
    "VM '{vm}' tidak bisa dipindahkan ke disk lokal (disk {disk}: {message}); VM tetap berjalan di atas backup {backup}",
  RUN_ALREADY_PERSISTED: "VM '{vm}' sudah berjalan dari disk lokal: {disks}",

  POOL_NOT_FOUND: "tidak ada storage pool bernama '{pool}'",
  POOL_INACTIVE: "storage pool '{pool}' tidak aktif: jalankan dulu (virsh pool-start {pool})",
  VOLUME_NOT_FOUND: "storage pool '{pool}' tidak punya volume bernama '{volume}'",
  VOLUME_EXISTS: "storage pool '{pool}' sudah punya volume bernama '{volume}'",
  VOLUME_BAD_SIZE:
    "'{size}' bukan ukuran: pakai byte, atau angka dengan K, M, G, T (biner, seperti virsh: 10G = 10 GiB) atau KB, MB, GB, TB (desimal)",
  VOLUME_BAD_FORMAT: "format volume '{format}' tidak didukung; pilih salah satu: {formats}",
  VOLUME_BAD_NAME: "'{volume}' tidak bisa dipakai sebagai nama volume",
  VOLUME_CONFIRMATION_REQUIRED:
    "menghapus volume '{volume}' dari pool {pool} akan menghapus seluruh isinya. Ini bukan terminal: tambahkan --yes untuk menghapus tanpa ditanya.",
  DISK_NO_DISKS: "VM '{vm}' tidak punya disk",
  LAB_TOOL_FAILED: 'perintah {tool} gagal: {message}',
  LAB_INTERRUPTED: 'eksperimen dihentikan dan semua yang dibuatnya sudah dihapus',

  // the scheduler (src/service/schedule/)
  SCHEDULE_SYNTAX:
    '{file}:{line}: bukan komentar, header "[policy ID]", atau baris "kunci = nilai"',
  SCHEDULE_OUTSIDE_POLICY: '{file}:{line}: \'{key}\' muncul sebelum baris "[policy ID]" mana pun',
  SCHEDULE_BAD_ID:
    "{file}:{line}: '{id}' bukan id kebijakan: 1 sampai 64 karakter a-z 0-9 - _, diawali huruf atau angka",
  SCHEDULE_DUPLICATE_POLICY: "{file}:{line}: kebijakan '{id}' sudah didefinisikan di baris {first}",
  SCHEDULE_DUPLICATE_KEY:
    "{file}:{line}: '{key}' diisi dua kali di kebijakan '{id}' (pertama di baris {first})",
  SCHEDULE_UNKNOWN_KEY: "{file}:{line}: kunci '{key}' tidak dikenal; kunci yang ada: {known}",
  SCHEDULE_MISSING_KEY: "{file}:{line}: kebijakan '{id}' tidak punya '{key}'",
  SCHEDULE_BAD_VALUE: "{file}:{line}: '{key}' tidak boleh '{value}'; yang boleh: {allowed}",
  SCHEDULE_BAD_CRON: "{file}:{line}: '{value}' bukan ekspresi cron lima kolom: {reason}",
  SCHEDULE_BAD_PATTERN:
    "{file}:{line}: '{pattern}' bukan nama atau pola VM (huruf, angka, _.+:- dan wildcard * dan ?)",
  SCHEDULE_NOT_FOUND: "tidak ada kebijakan jadwal '{id}'",
  SCHEDULE_EXISTS: "kebijakan jadwal '{id}' sudah ada; hapus dulu",
  SCHEDULE_FILE_UNUSABLE: 'file jadwal {path} tidak bisa dipakai: {message}',
  USAGE: '{message}',
  API_UNAUTHORIZED:
    'token yang sah diperlukan: kirim header "Authorization: Bearer TOKEN" (brankas serve --print-token menampilkannya)',
  API_HOST_REFUSED: "server ini tidak melayani Host '{host}'",
  API_BAD_REQUEST: '{message}',
  API_NOT_FOUND: 'endpoint tidak ada: {method} {path}',
  API_BODY_TOO_LARGE: 'isi permintaan lebih besar dari {limit} byte',
  FILE_NOT_FOUND: '{path} tidak ada',
  FILE_NOT_DIRECTORY: '{path}: salah satu bagian path ini bukan direktori',
  FILE_IS_DIRECTORY: '{path} adalah direktori, bukan file',
  FILE_PERMISSION: 'akses ditolak: {path}',
  FILE_READ_ONLY: '{path} berada di filesystem hanya-baca',
  FILE_NO_SPACE: 'ruang di filesystem {path} habis',
  FILE_ACCESS: 'tidak bisa memakai {path}: {message}',
  // the API's destructive calls (dashboard)
  API_CONFIRM_REQUIRED:
    '{action} mengubah atau menghapus sesuatu yang tidak bisa dikembalikan: kirim "confirm": true (atau "dryRun": true untuk melihat rencananya dulu)',
  // file-level restore (brankas files; docs/file-restore.md)
  FILES_PATH_NOT_FOUND: "tidak ada '{path}' di {volume} pada disk {disk} dari backup {backup}",
  FILES_PATH_OUTSIDE:
    "'{path}' mengarah ke luar filesystem ({reason}); sebutkan path di dalamnya, tanpa '..' atau link ke luar",
  FILES_VOLUME_NOT_FOUND:
    "disk {disk} dari backup {backup} tidak punya volume '{volume}'; volume yang ada: {volumes}",
  FILES_ONE_VOLUME:
    "'{path}' tidak berada di dalam satu partisi: pada disk berpartisi sebutkan path di bawah salah satu dari {volumes}, satu partisi per perintah",
  FILES_NO_FILESYSTEM:
    'disk {disk} dari backup {backup} tidak berisi tabel partisi maupun filesystem yang dikenali brankas',
  FILES_FS_UNSUPPORTED:
    'filesystem {volume} pada disk {disk} adalah {fs}, yang tidak bisa dibaca VM pembantu (ia membaca {readable}); restore disk itu utuh saja',
  FILES_ENCRYPTED:
    '{volume} pada disk {disk} adalah volume terenkripsi (LUKS): brankas files tidak bisa membukanya; restore disk itu utuh dan buka kuncinya di dalam VM',
  FILES_MOUNT_FAILED: 'VM pembantu tidak bisa me-mount {volume} ({fs}) pada disk {disk}: {message}',
  FILES_DEST_EXISTS: '{path} sudah ada: pilih tujuan lain, atau tambahkan --force',
  FILES_UNSAFE_ENTRY: "entri arsip '{name}' ditolak: {reason}",
  FILES_HELPER_FAILED: 'VM pembantu pemulihan file gagal: {reason}. Konsolnya berkata: {console}',
  // filesystems read on the host (brankas files' ext4 reader)
  FS_CORRUPT:
    'sistem berkas {fs} rusak: {problem}; tidak ada isinya yang dipercaya (brankas files --helper membiarkan kernel tamu mencobanya)',
  FS_UNSUPPORTED: 'sistem berkas {fs} memakai {feature}, yang tidak dibaca oleh pembaca di host',

  // remote hosts: the data path over ssh
  SSH_FAILED: 'ssh ke host lain gagal: {message}',
  REMOTE_NO_DATA_PATH:
    'disk VM yang dijangkau lewat {uri} tidak bisa dibaca dari sini: hanya qemu+ssh:// yang membawa data disk dari host lain (atau jalankan brankas di host itu)',
  REMOTE_COMMAND_FAILED: 'perintah di host lain gagal: {message}',
  REMOTE_UNSUPPORTED: '{what} belum didukung untuk VM di host lain',
  HOST_NOT_FOUND:
    "tidak ada host bernama '{host}' yang terdaftar (brankas host list menampilkannya; -c juga menerima URI)",
  HOST_EXISTS: "host bernama '{host}' sudah terdaftar",
  HOST_INVALID_NAME:
    "'{host}' tidak bisa menjadi nama host: hanya huruf, angka, '.', '_' dan '-' (paling panjang 63), diawali huruf atau angka",
  // remote restore and doctor's bitmaps (src/engine/restore/remote*.ts, src/engine/doctor/)
  REMOTE_RESTORE_NO_SPACE:
    'ruang tidak cukup di {dir} pada {host} untuk memulihkan {disk} dari backup {backup} (perlu {neededBytes} byte, kosong {freeBytes} byte); tidak ada yang ditulis. Kosongkan ruang di sana atau pulihkan --to direktori lain.',
  DOCTOR_BITMAP_REMOVE_FAILED: 'bitmap {bitmap} tidak bisa dihapus dari {image}: {message}',
} as const satisfies Record<RegisteredCode, string>;

export const FAMILIES_ID = {
  LIBVIRT_: 'libvirt: {message}',
  NBD_E: 'server NBD melaporkan galat: {message}',
  NBD_REP_ERR_: 'server NBD menolak: {message}',
} as const satisfies Record<keyof typeof ERROR_FAMILIES, string>;

// The compile-time check: an entry that lost or invented a parameter fails to compile here,
// naming the code and the parameter.
export const checkedErrors: Checked<typeof ERRORS_ID, typeof ERRORS> = ERRORS_ID;
export const checkedFamilies: Checked<typeof FAMILIES_ID, typeof ERROR_FAMILIES> = FAMILIES_ID;
