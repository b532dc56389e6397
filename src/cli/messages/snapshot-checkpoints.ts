/**
 * Messages of snapshots beside live backups' checkpoints (src/engine/snapshot/checkpoints.ts,
 * docs/live-backups.md): `brankas snapshot` retiring checkpoints, and what `brankas status`
 * says is refused. English and Indonesian.
 */

export const en = {
  'snapcp.willRetire':
    "VM '{vm}' has brankas checkpoints ({names}): libvirt does this to no snapshot while they exist, so brankas deletes them first. The next backup of '{vm}' reads its disks whole (deduplication still stores only what changed).",
  'snapcp.retired':
    "Checkpoints retired: {names}. The next backup of '{vm}' reads its disks whole; incremental backups go on from it.",
  'snapcp.warnForeign':
    "VM '{vm}' has checkpoints that brankas did not make ({names}): a snapshot revert (and a new snapshot while it is shut off) is refused until they are deleted with the tool that made them.",
  'snapcp.warnExternal':
    "VM '{vm}' has external snapshots ({names}): reverting to them is refused (libvirt 9.0 cannot); restore a backup instead.",
} as const;

export const id: Record<keyof typeof en, string> = {
  'snapcp.willRetire':
    "VM '{vm}' punya checkpoint brankas ({names}): libvirt tidak mau melakukan ini pada snapshot selama checkpoint ada, jadi brankas menghapusnya dulu. Backup berikutnya dari '{vm}' membaca disknya utuh (deduplikasi tetap hanya menyimpan yang berubah).",
  'snapcp.retired':
    "Checkpoint dipensiunkan: {names}. Backup berikutnya dari '{vm}' membaca disknya utuh; backup inkremental berlanjut dari situ.",
  'snapcp.warnForeign':
    "VM '{vm}' punya checkpoint yang bukan buatan brankas ({names}): revert snapshot (dan snapshot baru selagi VM mati) ditolak sampai checkpoint itu dihapus dengan alat pembuatnya.",
  'snapcp.warnExternal':
    "VM '{vm}' punya snapshot eksternal ({names}): revert ke snapshot itu ditolak (libvirt 9.0 tidak bisa); pulihkan dari backup saja.",
};
