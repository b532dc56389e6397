/**
 * Messages in English and Indonesian. Indonesian uses the seed tutorial's own
 * terms (snapshot, backup, cold backup, restore, revert, thin provisioning stay
 * as the tutorial writes them). Keys are typed: a message missing in one
 * language is a compile error.
 */

import * as repoCopy from './messages/repo-copy.js';
import * as files from './messages/files.js';
import * as filesReader from './messages/files-reader.js';
import * as backupDryRun from './messages/backup-dry-run.js';
import * as doctor from './messages/doctor.js';
import * as doctorBitmaps from './messages/doctor-bitmaps.js';
import * as serve from './messages/serve.js';
import * as offline from './messages/offline.js';
import * as usage from './messages/usage.js';
import * as schedule from './messages/schedule.js';
import * as service from './messages/service.js';
import * as runMessages from './messages/run.js';
import * as snapcp from './messages/snapshot-checkpoints.js';
import * as consistency from './messages/consistency.js';
import * as host from './messages/host.js';
import * as freeze from './messages/freeze.js';
import * as maintenance from './messages/maintenance.js';
import * as jobHistory from './messages/job-history.js';

export type Lang = 'en' | 'id';

const en = {
  'usage.error': 'usage error: {message}',
  'usage.hint': "Run 'brankas {command} --help' for usage.",
  'usage.unknownCommand': "unknown command '{command}'. Run 'brankas --help' for the list.",
  'error.prefix': 'error: {message}',
  'error.interrupted': 'interrupted',
  'error.internalHint':
    'This is a bug in brankas: please report it with the output of the same command run with BRANKAS_DEBUG=1 (it shows where it happened).',
  'inventory.host': 'Host',
  'inventory.hostname': 'hostname',
  'inventory.uri': 'connection',
  'inventory.hypervisor': 'hypervisor',
  'inventory.libvirt': 'libvirt',
  'inventory.vms': 'Virtual machines ({count})',
  'inventory.noVms': 'No virtual machines are defined on this host.',
  'inventory.col.name': 'NAME',
  'inventory.col.state': 'STATE',
  'inventory.col.snapshots': 'SNAPSHOTS',
  'inventory.col.disks': 'DISKS (target format virtual-size)',
  'inventory.transient': 'transient',
  'inventory.unknownSize': 'size unknown',
  'state.running': 'running',
  'state.paused': 'paused',
  'state.shutoff': 'shut off',
  'state.shutdown': 'shutting down',
  'state.crashed': 'crashed',
  'state.blocked': 'blocked',
  'state.pmsuspended': 'suspended',
  'state.nostate': 'no state',
  'repo.passwordPrompt': 'Repository password: ',
  'repo.newPasswordPrompt': 'New repository password: ',
  'repo.repeatPasswordPrompt': 'Repeat the password: ',
  'repo.noEncryptionWarning':
    'WARNING: this repository will NOT be encrypted. Anyone who can read its files can read every backed-up disk. Use --no-encryption only on storage you trust completely.',
  'repo.created': 'Repository created at {location} (chunks {chunk}, encryption {encryption}).',
  'repo.compressionSet':
    'Compression for new chunks: {compression}; chunks already stored stay as they are.',
  'repo.backups': 'Backups ({count})',
  'repo.damagedManifest': 'damaged: {message}',
  'repo.verified': 'signature verified',
  'repo.unverified': 'signature not checked (no password)',
  'repo.col.backup': 'BACKUP',
  'repo.col.started': 'STARTED',
  'repo.col.finished': 'finished',
  'repo.col.method': 'method',
  'repo.col.parent': 'parent',
  'repo.col.signature': 'signature',
  'repo.col.size': 'SIZE',
  'repo.col.newStored': 'NEW STORED',
  'repo.col.repository': 'repository',
  'repo.col.format': 'format',
  'repo.col.keys': 'passwords',
  'repo.col.decision': 'DECISION',
  'repo.verifyProgressStructure': 'checking structure: {done} disk indexes',
  'repo.verifyProgressData': 'reading data: {done} of {total} packs',
  'repo.verifySummary':
    'Checked {backups} backups, {disks} disks, {runs} index runs; read {read} of {packs} packs ({records} chunks).',
  'repo.verifyOk': 'No problems found.',
  'repo.verifyProblems': '{count} problem(s):',
  'repo.verifyAffected': 'Affected backups and disks:',
  'repo.keep': 'keep',
  'repo.remove': 'remove',
  'repo.pruneDry': 'Dry run: {count} backup(s) would be removed; nothing was changed.',
  'repo.pruned': '{count} backup(s) removed.',
  'repo.gcDry':
    'Dry run: {packs} pack(s) ({bytes}) hold nothing any backup needs; {repack} more are partly unused ({repackBytes} unused).',
  'repo.gcDone':
    'Deleted {packs} pack(s) ({bytes}) and {partial} unfinished backup(s); rewrote {repacked} partly unused pack(s), freeing {freed}.',
  'repo.gcWaiting':
    'Garbage collection is waiting for {count} running process(es) (backups or restores); run gc again after they finish to delete the rest.',
  'repo.keyAdded': 'Password added (key {id}).',
  'repo.keyRemoved': 'Key {id} removed.',
  'repo.keyChanged': 'Password changed (new key {id}).',
  'repo.stats.backups': 'backups',
  'repo.stats.logical': 'logical size (all disks)',
  'repo.stats.data': 'data in backups',
  'repo.stats.unique': 'unique data',
  'repo.stats.stored': 'stored',
  'repo.stats.dedup': 'deduplication',
  'repo.stats.compression': 'compression',
  'repo.stats.overall': 'data / stored',
  'status.col.snapshots': 'SNAPSHOTS',
  'status.col.backups': 'BACKUPS',
  'status.noRepo': 'no repository',
  'status.warnNoBackup':
    'warning: {vm} has {count} snapshot(s) and no backup. A snapshot is not a backup: it depends on the original disk file, and if that file is damaged or deleted the snapshot is useless. Take a backup, an independent copy.',
  'status.warnUnverified':
    'warning: backup {backup} of {vm} was never verified. Test the restore before you rely on it.',
  'lab.booting': 'Booting a throwaway tiny guest, {name}...',
  'lab.title': 'Experiment 1: the snapshot life cycle, on {vm}',
  'lab.hypothesis':
    'Hypothesis: a snapshot lets us make a risky change and come back quickly if it goes wrong.',
  'lab.step1': '1. In the VM: touch {file}  -> ls: {listing}',
  'lab.step2': "2. From the host: snapshot '{name}' taken ({seconds} s)",
  'lab.step3': '3. In the VM: touch {file}  -> ls: {listing}',
  'lab.step4': "4. From the host: reverted to '{name}' ({seconds} s)",
  'lab.step5': '5. In the VM again: ls -> {listing}',
  'lab.cleaned': '   (snapshot removed; a throwaway guest is removed with its files)',
  'lab.confirmed':
    'Observation: testfile_kedua.txt is gone, testfile_awal.txt is still there. The hypothesis holds: everything made after the snapshot was lost, everything before it kept.',
  'lab.refuted':
    'Observation: the files are not as the hypothesis predicts (see the listing above).',
  'lab.why':
    "Why a snapshot is no substitute for a backup: the snapshot still depends on the VM's original disk file (it lives inside it, or in overlays built on it). If the original disk file is damaged or deleted, the snapshot becomes useless. A backup is a completely separate, independent copy: 'a complete photocopy of an important document, kept in a separate safe'.",
  'demo.title':
    "brankas demo: the tutorial 'Snapshot & Backup VM', performed for real on a throwaway guest.",
  'demo.booting':
    'Booting a throwaway tiny guest (a Debian kernel, busybox, an ext4 disk in qcow2)...',
  'demo.guestReady': 'Guest {vm} is up after {seconds} s; its disk is mounted at /data.',
  'demo.part.snapshot': '== 1. Tugas 1 and Experiment 1: snapshots, the save points ==',
  'demo.part.thin': '== 2. Experiment 2: comparing backup sizes (thin provisioning) ==',
  'demo.part.backup': '== 3. Tugas 2: a cold backup into the safe ==',
  'demo.part.disaster': '== 4. The disaster: the disk file is lost ==',
  'demo.part.verify': '== 5. Test the restore before you rely on it ==',
  'demo.repoCreated':
    'Repository (the safe) created at {path}: deduplicated, compressed, encrypted with a password that exists only for this demo.',
  'demo.filesWritten': 'In the VM: important files written; their checksums:\n{checksums}',
  'demo.snapshotTaken':
    "From the host: snapshot '{name}' taken as well (a save point, kept inside the same disk file).",
  'demo.backedUp':
    'Backup {id}: the XML and only the allocated data stored (read {read}, newly stored {stored}) in {seconds} s.',
  'demo.diskDeleted':
    'The VM is powered off and its disk file is deleted, as a failed host or a mistaken rm would: {path}',
  'demo.revertFailed':
    "Revert to snapshot '{name}': it fails ({message}). The snapshot lived inside that disk file and is gone with it: a snapshot is not a backup.",
  'demo.revertSucceeded':
    "Revert to snapshot '{name}' worked although the disk file was deleted: not what the tutorial predicts.",
  'demo.restored':
    'brankas restore {id} --force --start: disk rebuilt from the repository (sparse), VM defined from the saved XML and started, in {seconds} s.',
  'demo.filesSame': 'In the VM: the same checksums as before the disaster:\n{checksums}',
  'demo.filesDiffer': 'In the VM: the checksums DIFFER from before the disaster:\n{checksums}',
  'demo.verifyPassed':
    'brankas verify {id} --boot: restored beside it as an isolated transient VM, booted, the guest answered, every disk equals the backup: passed in {seconds} s, and recorded in the backup.',
  'demo.verifyFailed': 'brankas verify {id} --boot: FAILED: {reason}',
  'demo.cleaned': 'Everything the demo made (guest, files, pool, repository) has been removed.',
  'demo.passed': 'Demo done in {seconds} s: every observation matched the tutorial.',
  'demo.failed':
    'Demo done in {seconds} s, but not every observation matched the tutorial (see above).',
  'backup.shuttingDown':
    'Shutting {vm} down (cold backup needs it off, so its data is consistent)...',
  'backup.shutOff': '{vm} is off after {seconds} s.',
  'backup.forcedOff': '{vm} ignored the shutdown request: powered off (--force-off-after-timeout).',
  'backup.started': '{vm} started again, as it was running before.',
  'backup.done':
    'Backup {id} of {vm}: read {read} of data, {dedup} of it already in the repository, newly stored {stored} (compressed), in {seconds} s.',
  'backup.interrupted':
    'interrupted: no backup was recorded; the VM is back in the state it was found in.',
  'backup.unchanged':
    'Unchanged since backup {parent} (files not modified): {disks}; their {bytes} of data taken over without reading.',
  'backup.none': 'No backups yet.',
  'backup.col.time': 'TIME',
  'backup.col.method': 'METHOD',
  'backup.col.data': 'DATA',
  'backup.col.verify': 'VERIFIED',
  'backup.neverVerified': 'never',
  'live.point': 'Live backup of {vm}, which keeps running: backup point taken, {consistency}.',
  'live.consistency.crash-consistent': 'crash-consistent (what a power cut would leave: {why})',
  'live.consistency.application-consistent':
    'application-consistent (the guest froze its filesystems for that instant)',
  'live.why.no-agent-channel': 'the VM has no guest agent channel',
  'live.why.agent-not-answering': 'its guest agent does not answer',
  'live.why.freeze-failed': 'its guest agent could not freeze the filesystems',
  'live.disk.incremental':
    '  {disk}: incremental since checkpoint {checkpoint}: {dirty} changed, {read} read',
  'live.disk.full': '  {disk}: read whole ({why}): {read} read',
  'live.reason.first': 'first live backup of this VM into this repository',
  'live.reason.raw-no-bitmap': 'a raw image: libvirt keeps no dirty bitmaps for raw disks',
  'live.reason.checkpoint-missing': "the parent backup's checkpoint is gone from the VM",
  'live.reason.no-bitmap-in-checkpoint': "the parent's checkpoint has no bitmap for this disk",
  'live.reason.bitmap-invalid':
    "QEMU cannot account for the parent checkpoint's bitmaps (missing or broken)",
  'live.reason.bitmap-refused':
    'libvirt refused the dirty bitmap (missing, broken, or inconsistent after an unclean stop)',
  'live.reason.new-disk': 'the disk is not in the parent backup',
  'live.reason.image-changed': 'the disk is another image file than in the parent backup',
  'live.reason.resized': 'the disk was resized since the parent backup',
  'live.reason.snapshots-present': 'the VM has snapshots: a revert cannot be ruled out',
  'live.reason.parent-index-unreadable': "the parent backup's index of this disk is unreadable",
  'live.reason.gc-pending': 'a garbage collection is pending in the repository',
  'live.reason.incremental': 'incremental',
  'live.reason.reread': 'asked for with --reread',
  'live.checkpoint': 'Checkpoint {checkpoint} left for the next incremental.',
  'live.deleted': 'Older checkpoints of this line deleted: {names}.',
  'backup.col.mode': 'MODE',
  'backup.col.consistency': 'CONSISTENCY',
  'backup.col.read': 'READ',
  'restore.interrupted':
    'interrupted: nothing was restored; the files it wrote are removed and anything it was replacing is back as it was.',
  'restore.droppedSnapshots':
    '{count} snapshot record(s) of the replaced VM removed ({names}): they lived in the disks the restore replaced (no file was deleted).',
  'restore.disk': '  {disk} -> {path} ({data} of data written)',
  'restore.done': 'Restored backup {backup} as VM {vm} in {seconds} s (defined, not started).',
  'mount.serving':
    'Serving disk {disk} ({size}) of backup {backup} of {vm}, read-only, at:\n  {uri}\nStop with Ctrl-C (SIGINT) or SIGTERM.',
  'mount.stopped': 'Stopped serving {disk} of backup {backup}.',
  'restore.doneStarted': 'Restored backup {backup} as VM {vm} in {seconds} s, and started it.',
  'restore.diskDone':
    'Restored disk {disk} of backup {backup} to {path} ({format}, {data} of data) in {seconds} s; no VM was defined.',
  // Restores that never weaken or escape: consoles, host access, leftovers.
  'restore.graphics.local-socket':
    'The {type} console listens on a local unix socket only: the backup holds no console password. Reach it on this host (virsh domdisplay, virt-viewer), or restore with --graphics-password-file to keep it on the network.',
  'restore.graphics.password-kept':
    'The {type} console keeps the password of the VM it was restored from.',
  'restore.graphics.password-set':
    'The {type} console has the password from --graphics-password-file.',
  'restore.hostAccess': 'Host access granted (--allow-host-access): {what}',
  'restore.cleanedLeftovers':
    'Removed {count} leftover(s) of an earlier restore whose process had died: {paths}',
  'restore.plan':
    'Would restore backup {backup} as VM {vm} (dry run: nothing is written or defined):',
  'restore.planHostAccess':
    'Host access the VM it comes from does not have (refused without --allow-host-access): {what}',
  'restore.planDisk': '  {disk} -> {path} ({data} of data)',
  'restore.planXml': 'The domain XML it would define:',
  'verify.interrupted':
    'interrupted: the test VM and its scratch files are removed; nothing was recorded.',
  'verify.passed': 'Backup {backup} passed the restore test ({how}) in {seconds} s.',
  'verify.failed': 'Backup {backup} FAILED the restore test: {reason}',
  'word.yes': 'yes',
  'word.no': 'no',
  'snapshot.creating': 'Taking snapshot {name} of {vm}...',
  'snapshot.created': "Snapshot '{name}' of {vm} taken ({location}, memory included: {memory}).",
  'snapshot.none': 'VM {vm} has no snapshots.',
  'snapshot.col.name': 'NAME',
  'snapshot.col.created': 'CREATED',
  'snapshot.col.state': 'VM STATE',
  'snapshot.col.memory': 'MEMORY',
  'snapshot.col.location': 'LOCATION',
  'snapshot.col.description': 'DESCRIPTION',
  'snapshot.current': 'current',
  'snapshot.parent': 'parent',
  'snapshot.children': 'children',
  'snapshot.revertLoses': 'Reverting {vm}: every change made after {time} will be LOST.',
  'snapshot.revertLosesMemory':
    '{vm} is running: its present memory state (open programs, unsaved work) will be lost too.',
  'snapshot.revertSafety':
    'A safety snapshot of the present state is taken first, so this revert can be undone.',
  'snapshot.revertAsk': 'Revert? [y/N]',
  'snapshot.revertCancelled': 'Nothing changed.',
  'snapshot.safetyTaken': "Safety snapshot '{name}' taken.",
  'snapshot.reverted': "{vm} is back at snapshot '{name}' ({state}).",
  'snapshot.deleted': 'Deleted snapshot(s) of {vm}: {names}.',
  'snapshot.wouldDelete': 'Would delete snapshot(s) of {vm}: {names} (dry run).',
  'snapshot.warnCount':
    "warning: {vm} has {count} snapshots (more than {threshold}). Too many snapshots lower the VM's disk I/O performance, because libvirt must read data through a long chain of files. Oldest, the first candidates to delete: {oldest}.",
  'snapshot.warnChain':
    'warning: disk {disk} of {vm} has a backing chain of {count} files (more than {threshold}): disk I/O slows as the chain grows. Oldest snapshots: {oldest}.',
  'disk.vm': 'VM {vm}: {count} disk(s)',
  'disk.col.target': 'TARGET',
  'disk.col.format': 'FORMAT',
  'disk.col.virtual': 'VIRTUAL',
  'disk.col.apparent': 'FILE (ls -l)',
  'disk.col.allocated': 'ON HOST (du)',
  'disk.col.written': 'WRITTEN = BACKUP READS',
  'disk.col.source': 'SOURCE',
  'disk.label.format': 'format',
  'disk.label.virtual': 'virtual size',
  'disk.label.apparent': 'file size (ls -l)',
  'disk.label.allocated': 'on the host (du)',
  'disk.label.written': 'data written',
  'disk.label.backup': 'a backup reads',
  'disk.label.backing': 'backing chain',
  'disk.label.snapshots': 'internal snapshots',
  'disk.label.reader': 'read by',
  'disk.backupNote': '{size} (the data written, all layers flattened)',
  'disk.readerNative': 'brankas (native reader)',
  'disk.readerNbd': 'qemu-nbd ({reason})',
  'disk.none': 'none',
  'disk.unknown': 'unknown (read through qemu-nbd)',
  'disk.backing': '{target}: backing chain: {chain}',
  'disk.snapshots': '{target}: internal snapshots: {list}',
  'disk.viaNbd': '{target}: read through qemu-nbd: the native reader does not handle {reason}',
  'disk.error': '{target} ({source}): cannot be measured: {message}',
  'disk.skipped': '{target}: skipped ({reason})',
  'disk.noDisks': 'VM {vm} has no disks to measure.',
  'volume.created':
    "Volume '{name}' created in pool {pool}: {format}, {capacity} virtual, {allocation} on the host, at {path}.",
  'volume.none': 'Storage pool {pool} has no volumes.',
  'volume.col.name': 'NAME',
  'volume.col.format': 'FORMAT',
  'volume.col.capacity': 'CAPACITY',
  'volume.col.allocation': 'ON HOST',
  'volume.col.path': 'PATH',
  'volume.deleteWarn':
    "Deleting volume '{name}' of pool {pool} removes {path} ({capacity}, {allocation} on the host) and everything in it.",
  'volume.deleteAsk': 'Delete? [y/N]',
  'volume.deleteCancelled': 'Nothing deleted.',
  'volume.deleted': "Volume '{name}' deleted from pool {pool}.",
  'thin.title': 'Experiment 2: comparing backup sizes (thin provisioning)',
  'thin.hypothesis':
    "Hypothesis: a backup of a qcow2 file is more efficient than a backup of a 'raw' disk of the same size.",
  'thin.poolTemp': 'Storage pool {pool}: temporary, in {dir}',
  'thin.poolGiven': 'Storage pool {pool}',
  'thin.skipped':
    '  (skipped {kind}: it reserves {needed} on the host and the pool has {available} free)',
  'thin.empty': 'Nothing written yet:',
  'thin.writing': 'Writing {size} into each volume with qemu-io:',
  'thin.after': 'After writing {size} into each:',
  'thin.col.volume': 'VOLUME',
  'thin.col.virtual': 'VIRTUAL',
  'thin.col.apparent': 'ls -l',
  'thin.col.allocated': 'du',
  'thin.col.backup': 'BACKUP READS',
  'thin.observation':
    'Observation: disk1.qcow2 is {qcow2Ls} to ls -l (very small, as predicted); the raw files are {rawLs} to ls -l (exactly 10 GiB, as predicted).',
  'thin.explain':
    "Explain: this is called 'thin provisioning'. A disk promises its whole capacity to the guest but takes space on the host only as data is written: qcow2 does it in its format (clusters are allocated on first write), a sparse raw file does it in the host's filesystem (holes). Why it helps backups: only the data actually written is backed up, not the whole capacity of the disk, which saves a lot of backup storage, above all for disks that are mostly empty.",
  'thin.halfRightLs':
    "What the tutorial gets half right: ls -l shows a file's apparent size, not the space it takes on the host; du does. disk3.raw, a sparse raw file, takes {sparseDu} on the host although ls -l says {rawLs}.",
  'thin.halfRightReserved':
    'disk2.raw takes {reservedDu} only because vol-create-as without --allocation 0 asks libvirt to reserve the whole capacity.',
  'thin.halfRightBackup':
    'And a brankas backup reads only the data written, whatever the format: {emptyReads} for the empty disks, {writtenReads} after {written} was written into each. The saving comes from reading the allocation map, not from qcow2 itself; what qcow2 adds is thin provisioning that does not depend on the filesystem, internal snapshots and backing files. A tool that copies a raw file byte by byte (dd, scp, a volume download) does move all 10 GiB.',
  'thin.cleaned': '(volumes deleted; a temporary pool is removed with its directory)',
  // Repository warnings and errors of read-only and authenticated repositories (one block).
  'warn.REPO_READ_WITHOUT_LOCK':
    'warning: the repository at {location} cannot be written ({errno}): reading it without a lock. A garbage collection running at the same time could remove what is being read.',
  'warn.REPO_UNAUTHENTICATED':
    'warning: the repository at {location} is not authenticated (a format older than authentication): anyone who can write its files can change what its backups restore. Run brankas repo upgrade when no backup is running.',
  'repo.upgraded':
    'Repository {location} upgraded to format version 3: {signed} manifest(s) signed with an auth key kept in the repository (keys/auth).',
  'repo.upgradedExternal':
    'Repository {location} upgraded to format version 3: {signed} manifest(s) signed with the auth key in {file}. Keep that file safe; every command now needs BRANKAS_AUTH_KEY_FILE={file}.',
  'repo.upgradeNothing':
    'Repository {location} is authenticated already (format version {version}): nothing to do.',
  'repo.upgradeDamaged': 'Damaged manifests, left as they are (repo verify reports them): {ids}',
  // Damage and repair (issue #12).
  'repo.verifyGcLeftovers':
    'Note: an interrupted gc left {entries} index entries naming {packs} pack(s) it deleted; no backup needs them, and the next gc removes them.',
  'repo.verifyGoneLeftovers':
    'Note: {entries} index entries name {packs} pack(s) that are gone, but no backup needs them; the next gc removes them.',
  'repo.verifyDamageRecorded':
    'The damaged records are recorded (damage/{id}): backups from now on store those chunks again, and repo repair heals the index.',
  'repo.verifyNotRecorded':
    'the damaged records could not be recorded in the repository ({message}): backups will not know to store those chunks again until a verify can record them',
  'repo.statsDamagedRuns':
    "{count} index run(s) are damaged: their chunks are left out of these figures. Run 'brankas repo repair'.",
  'repo.repairNothing': 'Nothing to repair.',
  'repo.repairPlan':
    'Dry run: would drop {dropped} index entries ({missing} pack(s) gone, {records} damaged record(s)), rewrite {packs} pack(s), rebuild {runs} damaged index run(s) ({recovered} entries from the packs). Nothing was changed.',
  'repo.repairDone':
    'Repaired: dropped {dropped} index entries ({missing} pack(s) gone, {records} damaged record(s)), rewrote {packs} pack(s), rebuilt {runs} damaged index run(s) ({recovered} entries from the packs).',
  'repo.repairHealed':
    'healed: {backup} ({vm}) {disk}: {chunks} damaged chunk(s) have an intact copy',
  'repo.repairUnhealable': 'cannot heal: {backup} ({vm}) {disk}: {reason}',
  'repo.repairLost': '{lost} chunk(s) have no intact copy anywhere in the repository',
  'backup.damagedRow': 'DAMAGED',
  'backup.damaged': 'backup {backup} ({vm}) is damaged and cannot be restored: {reason}',
  'restore.skippedDamaged':
    'skipped backup {backup}: it is damaged ({reason}); taking the newest intact one instead',
  // Jobs, the per-VM lock and the journal (src/service/).
  'job.kind.backup': 'backup',
  'job.kind.restore': 'restore',
  'job.kind.verify': 'restore test',
  'job.kind.snapshot': 'snapshot operation',
  'job.waiting':
    'VM {vm} is busy: a {job} (process {pid}) has worked on it since {since}. Waiting for it to finish...',
  'job.recoveredStarted':
    'VM {vm} was shut off by a {job} that was interrupted (process {pid}, gone) at {at} and never started again: started it again now.',
  'job.recoveredAdopted':
    'VM {vm} was shut off by a {job} that was interrupted (process {pid}, gone) at {at} and never started again; the restore decides its state now (--start starts it).',
  'job.recoverFailed':
    'VM {vm} was shut off by a {job} that was interrupted (process {pid}, gone) at {at}; starting it again failed: {message}. The next brankas command on it tries again.',
  'status.warnLeftOff':
    'warning: {vm} was shut off by a {job} that was interrupted (process {pid}, gone) at {at} and never started again. The next brankas command on it starts it again (or: virsh start {vm}).',
  'status.jobRunning': '{vm}: a {job} is running (process {pid}, since {since}).',
  'backup.committedAnyway':
    'The request to stop came after the backup was committed: backup {id} is recorded and complete.',
  'backup.waitsForOff':
    'Stopping: {vm} was asked to shut down; waiting until it is off to start it again (a second Ctrl-C stops at once, and the next brankas command starts it).',
} as const;

// Every English key must exist in Indonesian. Errors are worded apart, from the registry of
// codes (src/util/error-registry.ts, errors-id.ts, error-text.ts).
type BaseKey = keyof typeof en;

const id: Record<BaseKey, string> = {
  'usage.error': 'kesalahan penggunaan: {message}',
  'usage.hint': "Jalankan 'brankas {command} --help' untuk cara pakai.",
  'usage.unknownCommand':
    "perintah '{command}' tidak dikenal. Jalankan 'brankas --help' untuk daftarnya.",
  'error.prefix': 'galat: {message}',
  'error.interrupted': 'dihentikan',
  'error.internalHint':
    'Ini bug di brankas: mohon laporkan beserta keluaran perintah yang sama yang dijalankan dengan BRANKAS_DEBUG=1 (menunjukkan di mana terjadinya).',
  'inventory.host': 'Host',
  'inventory.hostname': 'nama host',
  'inventory.uri': 'koneksi',
  'inventory.hypervisor': 'hypervisor',
  'inventory.libvirt': 'libvirt',
  'inventory.vms': 'Mesin virtual ({count})',
  'inventory.noVms': 'Belum ada mesin virtual (VM) yang terdefinisi di host ini.',
  'inventory.col.name': 'NAMA',
  'inventory.col.state': 'STATUS',
  'inventory.col.snapshots': 'SNAPSHOT',
  'inventory.col.disks': 'DISK (target format ukuran-virtual)',
  'inventory.transient': 'sementara',
  'inventory.unknownSize': 'ukuran tidak diketahui',
  'state.running': 'berjalan',
  'state.paused': 'dijeda',
  'state.shutoff': 'mati',
  'state.shutdown': 'sedang dimatikan',
  'state.crashed': 'crash',
  'state.blocked': 'terblokir',
  'state.pmsuspended': 'ditangguhkan',
  'state.nostate': 'tanpa status',
  'repo.passwordPrompt': 'Password repositori: ',
  'repo.newPasswordPrompt': 'Password baru repositori: ',
  'repo.repeatPasswordPrompt': 'Ulangi password: ',
  'repo.noEncryptionWarning':
    'PERINGATAN: repositori ini TIDAK dienkripsi. Siapa pun yang bisa membaca filenya bisa membaca semua disk yang di-backup. Pakai --no-encryption hanya di penyimpanan yang benar-benar Anda percaya.',
  'repo.created': 'Repositori dibuat di {location} (chunk {chunk}, enkripsi {encryption}).',
  'repo.compressionSet':
    'Kompresi untuk chunk baru: {compression}; chunk yang sudah tersimpan tetap seperti semula.',
  'repo.backups': 'Backup ({count})',
  'repo.damagedManifest': 'rusak: {message}',
  'repo.verified': 'tanda tangan cocok',
  'repo.unverified': 'tanda tangan tidak diperiksa (tanpa password)',
  'repo.col.backup': 'BACKUP',
  'repo.col.started': 'MULAI',
  'repo.col.finished': 'selesai',
  'repo.col.method': 'metode',
  'repo.col.parent': 'induk',
  'repo.col.signature': 'tanda tangan',
  'repo.col.size': 'UKURAN',
  'repo.col.newStored': 'BARU DISIMPAN',
  'repo.col.repository': 'repositori',
  'repo.col.format': 'format',
  'repo.col.keys': 'password',
  'repo.col.decision': 'KEPUTUSAN',
  'repo.verifyProgressStructure': 'memeriksa struktur: {done} indeks disk',
  'repo.verifyProgressData': 'membaca data: {done} dari {total} pack',
  'repo.verifySummary':
    'Diperiksa {backups} backup, {disks} disk, {runs} indeks; dibaca {read} dari {packs} pack ({records} chunk).',
  'repo.verifyOk': 'Tidak ada masalah.',
  'repo.verifyProblems': '{count} masalah:',
  'repo.verifyAffected': 'Backup dan disk yang terkena:',
  'repo.keep': 'simpan',
  'repo.remove': 'hapus',
  'repo.pruneDry': 'Uji coba: {count} backup akan dihapus; tidak ada yang diubah.',
  'repo.pruned': '{count} backup dihapus.',
  'repo.gcDry':
    'Uji coba: {packs} pack ({bytes}) berisi data yang tidak dipakai backup mana pun; {repack} pack lain sebagian tidak terpakai ({repackBytes} tidak terpakai).',
  'repo.gcDone':
    '{packs} pack ({bytes}) dan {partial} backup yang tidak selesai dihapus; {repacked} pack yang sebagian tidak terpakai ditulis ulang, {freed} dibebaskan.',
  'repo.gcWaiting':
    'Pembersihan menunggu {count} proses yang sedang berjalan (backup atau restore); jalankan gc lagi setelah selesai untuk menghapus sisanya.',
  'repo.keyAdded': 'Password ditambahkan (kunci {id}).',
  'repo.keyRemoved': 'Kunci {id} dihapus.',
  'repo.keyChanged': 'Password diganti (kunci baru {id}).',
  'repo.stats.backups': 'backup',
  'repo.stats.logical': 'ukuran logis (semua disk)',
  'repo.stats.data': 'data di backup',
  'repo.stats.unique': 'data unik',
  'repo.stats.stored': 'tersimpan',
  'repo.stats.dedup': 'deduplikasi',
  'repo.stats.compression': 'kompresi',
  'repo.stats.overall': 'data / tersimpan',
  'status.col.snapshots': 'SNAPSHOT',
  'status.col.backups': 'BACKUP',
  'status.noRepo': 'belum ada repositori',
  'status.warnNoBackup':
    'peringatan: {vm} punya {count} snapshot tetapi tidak punya backup. Snapshot bukan pengganti backup: file snapshot masih bergantung pada file disk aslinya. Jika file disk asli rusak atau terhapus, snapshotnya menjadi tidak berguna. Buat backup, salinan yang sepenuhnya terpisah dan mandiri.',
  'status.warnUnverified':
    'peringatan: backup {backup} dari {vm} belum pernah diuji. Uji coba proses restore sebelum mengandalkannya.',
  'lab.booting': 'Menyalakan VM uji sekali pakai, {name}...',
  'lab.title': 'Eksperimen 1: Siklus Hidup Snapshot, pada {vm}',
  'lab.hypothesis':
    "Hipotesis: Snapshot memungkinkan kita melakukan perubahan 'berisiko' dan kembali dengan cepat jika terjadi kesalahan.",
  'lab.step1': '1. Di dalam VM: touch {file}  -> ls: {listing}',
  'lab.step2': "2. Dari host: snapshot '{name}' diambil ({seconds} dtk)",
  'lab.step3': '3. Di dalam VM: touch {file}  -> ls: {listing}',
  'lab.step4': "4. Dari host: revert ke '{name}' ({seconds} dtk)",
  'lab.step5': '5. Cek lagi di dalam VM: ls -> {listing}',
  'lab.cleaned': '   (snapshot dihapus; VM uji sekali pakai dihapus beserta file-filenya)',
  'lab.confirmed':
    "Observasi: 'testfile_kedua.txt' hilang, sementara 'testfile_awal.txt' masih ada. Hipotesis terbukti: semua perubahan setelah snapshot diambil hilang, yang sebelumnya tetap ada.",
  'lab.refuted': 'Observasi: file-filenya tidak sesuai hipotesis (lihat daftar di atas).',
  'lab.why':
    'Kenapa snapshot bukan pengganti backup? Karena file snapshot masih bergantung pada file disk aslinya. Jika file disk asli rusak atau terhapus, snapshotnya menjadi tidak berguna. Backup adalah salinan yang sepenuhnya terpisah dan mandiri: seperti membuat fotokopi lengkap dari dokumen penting dan menyimpannya di brankas terpisah.',
  'demo.title':
    "brankas demo: tutorial 'Snapshot & Backup VM', dijalankan sungguhan pada VM uji sekali pakai.",
  'demo.booting':
    'Menyalakan VM uji sekali pakai (kernel Debian, busybox, disk ext4 dalam qcow2)...',
  'demo.guestReady': 'VM {vm} sudah menyala setelah {seconds} dtk; disknya terpasang di /data.',
  'demo.part.snapshot': '== 1. Tugas 1 dan Eksperimen 1: snapshot, si save point ==',
  'demo.part.thin': '== 2. Eksperimen 2: Membandingkan Ukuran Backup (thin provisioning) ==',
  'demo.part.backup': '== 3. Tugas 2: cold backup ke dalam brankas ==',
  'demo.part.disaster': '== 4. Bencana: file disk hilang ==',
  'demo.part.verify': '== 5. Uji coba proses restore sebelum mengandalkannya ==',
  'demo.repoCreated':
    'Repositori (brankas) dibuat di {path}: deduplikasi, kompresi, dan enkripsi dengan password yang hanya ada untuk demo ini.',
  'demo.filesWritten': 'Di dalam VM: file-file penting ditulis; checksum-nya:\n{checksums}',
  'demo.snapshotTaken':
    "Dari host: snapshot '{name}' juga diambil (save point, disimpan di dalam file disk yang sama).",
  'demo.backedUp':
    'Backup {id}: XML dan hanya data yang benar-benar terisi disimpan (dibaca {read}, baru disimpan {stored}) dalam {seconds} dtk.',
  'demo.diskDeleted':
    'VM dimatikan dan file disknya dihapus, seperti host yang rusak atau rm yang keliru: {path}',
  'demo.revertFailed':
    "Revert ke snapshot '{name}': gagal ({message}). Snapshot itu ada di dalam file disk tadi dan ikut hilang: snapshot bukan pengganti backup.",
  'demo.revertSucceeded':
    "Revert ke snapshot '{name}' berhasil padahal file disknya sudah dihapus: tidak sesuai dengan tutorial.",
  'demo.restored':
    'brankas restore {id} --force --start: disk dibangun ulang dari repositori (sparse), VM di-define dari XML yang disimpan lalu dinyalakan, dalam {seconds} dtk.',
  'demo.filesSame': 'Di dalam VM: checksum sama seperti sebelum bencana:\n{checksums}',
  'demo.filesDiffer': 'Di dalam VM: checksum BERBEDA dari sebelum bencana:\n{checksums}',
  'demo.verifyPassed':
    'brankas verify {id} --boot: di-restore di sampingnya sebagai VM sementara yang terisolasi, dinyalakan, guest menjawab, setiap disk sama dengan backup: lulus dalam {seconds} dtk, dan dicatat di backup.',
  'demo.verifyFailed': 'brankas verify {id} --boot: GAGAL: {reason}',
  'demo.cleaned': 'Semua yang dibuat demo (VM, file, pool, repositori) sudah dihapus.',
  'demo.passed': 'Demo selesai dalam {seconds} dtk: semua observasi sesuai dengan tutorial.',
  'demo.failed':
    'Demo selesai dalam {seconds} dtk, tetapi tidak semua observasi sesuai dengan tutorial (lihat di atas).',
  'backup.shuttingDown':
    'Mematikan {vm} (cold backup berarti VM dimatikan dulu agar datanya konsisten)...',
  'backup.shutOff': '{vm} sudah mati setelah {seconds} dtk.',
  'backup.forcedOff':
    '{vm} tidak menanggapi permintaan shutdown: dimatikan paksa (--force-off-after-timeout).',
  'backup.started': '{vm} dinyalakan kembali, karena sebelumnya berjalan.',
  'backup.done':
    'Backup {id} dari {vm}: {read} data dibaca, {dedup} di antaranya sudah ada di repositori, {stored} baru disimpan (terkompresi), dalam {seconds} dtk.',
  'backup.interrupted': 'dihentikan: tidak ada backup yang tercatat; VM kembali ke keadaan semula.',
  'backup.unchanged':
    'Tidak berubah sejak backup {parent} (file tidak diubah): {disks}; {bytes} datanya diambil alih tanpa dibaca.',
  'backup.none': 'Belum ada backup.',
  'backup.col.time': 'WAKTU',
  'backup.col.method': 'METODE',
  'backup.col.data': 'DATA',
  'backup.col.verify': 'DIUJI',
  'backup.neverVerified': 'belum pernah',
  'live.point': 'Live backup dari {vm}, yang tetap berjalan: titik backup diambil, {consistency}.',
  'live.consistency.crash-consistent': 'crash-consistent (seperti setelah listrik padam: {why})',
  'live.consistency.application-consistent':
    'application-consistent (guest membekukan filesystem-nya sesaat itu)',
  'live.why.no-agent-channel': 'VM tidak punya kanal guest agent',
  'live.why.agent-not-answering': 'guest agent-nya tidak menjawab',
  'live.why.freeze-failed': 'guest agent-nya tidak bisa membekukan filesystem',
  'live.disk.incremental':
    '  {disk}: inkremental sejak checkpoint {checkpoint}: {dirty} berubah, {read} dibaca',
  'live.disk.full': '  {disk}: dibaca utuh ({why}): {read} dibaca',
  'live.reason.first': 'live backup pertama VM ini ke repositori ini',
  'live.reason.raw-no-bitmap': 'image raw: libvirt tidak menyimpan dirty bitmap untuk disk raw',
  'live.reason.checkpoint-missing': 'checkpoint backup induknya sudah tidak ada di VM',
  'live.reason.no-bitmap-in-checkpoint': 'checkpoint induknya tidak punya bitmap untuk disk ini',
  'live.reason.bitmap-invalid':
    'QEMU tidak bisa mempertanggungjawabkan bitmap checkpoint induknya (hilang atau rusak)',
  'live.reason.bitmap-refused':
    'libvirt menolak dirty bitmap-nya (hilang, rusak, atau tidak konsisten setelah VM berhenti tidak bersih)',
  'live.reason.new-disk': 'disk ini tidak ada di backup induknya',
  'live.reason.image-changed': 'file image disk ini berbeda dari di backup induknya',
  'live.reason.resized': 'ukuran disk berubah sejak backup induknya',
  'live.reason.snapshots-present': 'VM punya snapshot: revert tidak bisa dikesampingkan',
  'live.reason.parent-index-unreadable': 'indeks disk ini di backup induknya tidak terbaca',
  'live.reason.gc-pending': 'garbage collection sedang tertunda di repositori',
  'live.reason.incremental': 'inkremental',
  'live.reason.reread': 'diminta dengan --reread',
  'live.checkpoint': 'Checkpoint {checkpoint} ditinggalkan untuk inkremental berikutnya.',
  'live.deleted': 'Checkpoint lama dari lini ini dihapus: {names}.',
  'backup.col.mode': 'MODE',
  'backup.col.consistency': 'KONSISTENSI',
  'backup.col.read': 'DIBACA',
  'restore.interrupted':
    'dihentikan: tidak ada yang di-restore; file yang sudah ditulis dihapus dan yang akan digantikan kembali seperti semula.',
  'restore.droppedSnapshots':
    '{count} catatan snapshot dari VM yang digantikan dihapus ({names}): snapshot itu ada di dalam disk yang digantikan restore (tidak ada file yang dihapus).',
  'restore.disk': '  {disk} -> {path} ({data} data ditulis)',
  'restore.done':
    'Backup {backup} di-restore sebagai VM {vm} dalam {seconds} dtk (sudah di-define, belum dinyalakan).',
  'mount.serving':
    'Melayani disk {disk} ({size}) dari backup {backup} milik {vm}, hanya-baca, di:\n  {uri}\nHentikan dengan Ctrl-C (SIGINT) atau SIGTERM.',
  'mount.stopped': 'Berhenti melayani {disk} dari backup {backup}.',
  'restore.doneStarted':
    'Backup {backup} di-restore sebagai VM {vm} dalam {seconds} dtk, dan sudah dinyalakan.',
  'restore.diskDone':
    'Disk {disk} dari backup {backup} di-restore ke {path} ({format}, {data} data) dalam {seconds} dtk; tidak ada VM yang di-define.',
  // Restores that never weaken or escape: consoles, host access, leftovers.
  'restore.graphics.local-socket':
    'Konsol {type} hanya mendengarkan di socket unix lokal: backup tidak menyimpan password konsol. Buka dari host ini (virsh domdisplay, virt-viewer), atau restore dengan --graphics-password-file agar tetap di jaringan.',
  'restore.graphics.password-kept': 'Konsol {type} memakai password VM asal restore ini.',
  'restore.graphics.password-set': 'Konsol {type} memakai password dari --graphics-password-file.',
  'restore.hostAccess': 'Akses ke host diberikan (--allow-host-access): {what}',
  'restore.cleanedLeftovers':
    'Menghapus {count} sisa restore sebelumnya yang prosesnya sudah mati: {paths}',
  'restore.plan':
    'Backup {backup} akan di-restore sebagai VM {vm} (dry run: tidak ada yang ditulis atau di-define):',
  'restore.planHostAccess':
    'Akses ke host yang tidak dimiliki VM asalnya (ditolak tanpa --allow-host-access): {what}',
  'restore.planDisk': '  {disk} -> {path} ({data} data)',
  'restore.planXml': 'XML domain yang akan di-define:',
  'verify.interrupted': 'dihentikan: VM uji dan file sementaranya dihapus; tidak ada yang dicatat.',
  'verify.passed': 'Backup {backup} lulus uji restore ({how}) dalam {seconds} dtk.',
  'verify.failed': 'Backup {backup} GAGAL uji restore: {reason}',
  'word.yes': 'ya',
  'word.no': 'tidak',
  'snapshot.creating': 'Mengambil snapshot {name} dari {vm}...',
  'snapshot.created': "Snapshot '{name}' dari {vm} dibuat ({location}, termasuk memori: {memory}).",
  'snapshot.none': 'VM {vm} belum punya snapshot.',
  'snapshot.col.name': 'NAMA',
  'snapshot.col.created': 'DIBUAT',
  'snapshot.col.state': 'STATUS VM',
  'snapshot.col.memory': 'MEMORI',
  'snapshot.col.location': 'LOKASI',
  'snapshot.col.description': 'DESKRIPSI',
  'snapshot.current': 'saat ini',
  'snapshot.parent': 'induk',
  'snapshot.children': 'turunan',
  'snapshot.revertLoses': 'Revert {vm}: semua perubahan yang dibuat SETELAH {time} akan HILANG.',
  'snapshot.revertLosesMemory':
    '{vm} sedang berjalan: keadaan memorinya sekarang (program yang terbuka, pekerjaan yang belum disimpan) juga akan hilang.',
  'snapshot.revertSafety':
    'Snapshot pengaman dari keadaan sekarang diambil dulu, jadi revert ini bisa dibatalkan.',
  'snapshot.revertAsk': 'Lanjutkan revert? [y/N]',
  'snapshot.revertCancelled': 'Tidak ada yang diubah.',
  'snapshot.safetyTaken': "Snapshot pengaman '{name}' dibuat.",
  'snapshot.reverted': "{vm} sudah kembali ke snapshot '{name}' ({state}).",
  'snapshot.deleted': 'Snapshot {vm} yang dihapus: {names}.',
  'snapshot.wouldDelete':
    'Snapshot {vm} yang akan dihapus: {names} (uji coba, tidak ada yang dihapus).',
  'snapshot.warnCount':
    'peringatan: {vm} punya {count} snapshot (lebih dari {threshold}). Terlalu banyak snapshot akan menurunkan performa I/O disk VM, karena libvirt harus membaca data dari rantai file yang panjang. Yang paling lama, calon pertama untuk dihapus: {oldest}.',
  'snapshot.warnChain':
    'peringatan: disk {disk} dari {vm} punya rantai backing {count} file (lebih dari {threshold}): I/O disk melambat seiring rantai memanjang. Snapshot paling lama: {oldest}.',
  'disk.vm': 'VM {vm}: {count} disk',
  'disk.col.target': 'TARGET',
  'disk.col.format': 'FORMAT',
  'disk.col.virtual': 'VIRTUAL',
  'disk.col.apparent': 'UKURAN FILE (ls -l)',
  'disk.col.allocated': 'TERPAKAI DI HOST (du)',
  'disk.col.written': 'TERISI = DIBACA BACKUP',
  'disk.col.source': 'SUMBER',
  'disk.label.format': 'format',
  'disk.label.virtual': 'ukuran virtual',
  'disk.label.apparent': 'ukuran file (ls -l)',
  'disk.label.allocated': 'terpakai di host (du)',
  'disk.label.written': 'data yang terisi',
  'disk.label.backup': 'yang dibaca backup',
  'disk.label.backing': 'rantai backing',
  'disk.label.snapshots': 'snapshot internal',
  'disk.label.reader': 'dibaca oleh',
  'disk.backupNote': '{size} (data yang terisi, semua lapisan digabung)',
  'disk.readerNative': 'brankas (pembaca bawaan)',
  'disk.readerNbd': 'qemu-nbd ({reason})',
  'disk.none': 'tidak ada',
  'disk.unknown': 'tidak diketahui (dibaca lewat qemu-nbd)',
  'disk.backing': '{target}: rantai backing: {chain}',
  'disk.snapshots': '{target}: snapshot internal: {list}',
  'disk.viaNbd': '{target}: dibaca lewat qemu-nbd: pembaca bawaan tidak menangani {reason}',
  'disk.error': '{target} ({source}): tidak bisa diukur: {message}',
  'disk.skipped': '{target}: dilewati ({reason})',
  'disk.noDisks': 'VM {vm} tidak punya disk untuk diukur.',
  'volume.created':
    "Volume '{name}' dibuat di pool {pool}: {format}, {capacity} virtual, {allocation} terpakai di host, di {path}.",
  'volume.none': 'Storage pool {pool} belum punya volume.',
  'volume.col.name': 'NAMA',
  'volume.col.format': 'FORMAT',
  'volume.col.capacity': 'KAPASITAS',
  'volume.col.allocation': 'TERPAKAI',
  'volume.col.path': 'PATH',
  'volume.deleteWarn':
    "Menghapus volume '{name}' dari pool {pool} akan menghapus {path} ({capacity}, {allocation} terpakai di host) beserta seluruh isinya.",
  'volume.deleteAsk': 'Hapus? [y/N]',
  'volume.deleteCancelled': 'Tidak ada yang dihapus.',
  'volume.deleted': "Volume '{name}' dihapus dari pool {pool}.",
  'thin.title': 'Eksperimen 2: Membandingkan Ukuran Backup (thin provisioning)',
  'thin.hypothesis':
    "Hipotesis: Backup file qcow2 lebih efisien daripada backup disk 'raw' dengan ukuran yang sama.",
  'thin.poolTemp': 'Storage pool {pool}: sementara, di {dir}',
  'thin.poolGiven': 'Storage pool {pool}',
  'thin.skipped':
    '  ({kind} dilewati: volume ini memesan {needed} di host, sedangkan pool hanya punya {available} kosong)',
  'thin.empty': 'Belum ada data yang diisi:',
  'thin.writing': 'Mengisi {size} ke setiap volume dengan qemu-io:',
  'thin.after': 'Setelah {size} diisi ke setiap volume:',
  'thin.col.volume': 'VOLUME',
  'thin.col.virtual': 'VIRTUAL',
  'thin.col.apparent': 'ls -l',
  'thin.col.allocated': 'du',
  'thin.col.backup': 'DIBACA BACKUP',
  'thin.observation':
    "Observasi: ukuran file 'disk1.qcow2' menurut ls -l {qcow2Ls} (sangat kecil, sesuai perkiraan); file raw menurut ls -l {rawLs} (tepat 10GB, sesuai perkiraan).",
  'thin.explain':
    "Jelaskan: Fenomena ini disebut 'thin provisioning'. Disk menjanjikan seluruh kapasitasnya ke VM, tetapi baru memakai ruang di host ketika data benar-benar ditulis: qcow2 melakukannya lewat formatnya (cluster dialokasikan saat pertama kali ditulis), file raw sparse lewat filesystem host (hole). Mengapa ini sangat menguntungkan untuk backup? Karena Anda hanya mem-backup data yang benar-benar terisi, bukan seluruh kapasitas disk. Ini menghemat ruang penyimpanan backup secara signifikan, terutama untuk disk yang sebagian besar kosong.",
  'thin.halfRightLs':
    "Yang hanya setengah benar dari tutorial: ls -l menunjukkan ukuran semu (apparent size) sebuah file, bukan ruang yang benar-benar dipakainya di host; itu ditunjukkan oleh du. Jadi 'ukuran file sebenarnya di host' bukan yang dicetak ls -lh. disk3.raw, file raw sparse, hanya memakai {sparseDu} di host walaupun ls -l menyebut {rawLs}.",
  'thin.halfRightReserved':
    'disk2.raw memakai {reservedDu} hanya karena vol-create-as tanpa --allocation 0 meminta libvirt memesan seluruh kapasitasnya.',
  'thin.halfRightBackup':
    'Dan backup brankas hanya membaca data yang benar-benar terisi, apa pun formatnya: {emptyReads} untuk disk yang kosong, {writtenReads} setelah {written} diisi ke setiap disk. Penghematan backup datang dari membaca peta alokasi, bukan dari qcow2 itu sendiri; yang ditambahkan qcow2 adalah thin provisioning yang tidak bergantung pada filesystem, snapshot internal, dan file backing. Alat yang menyalin file raw byte demi byte (dd, scp, download volume) memang memindahkan seluruh 10GB.',
  'thin.cleaned': '(volume dihapus; pool sementara dihapus beserta direktorinya)',
  // Peringatan dan galat repositori hanya-baca dan terautentikasi (satu blok).
  'warn.REPO_READ_WITHOUT_LOCK':
    'peringatan: repositori di {location} tidak bisa ditulisi ({errno}): dibaca tanpa kunci. Garbage collection yang berjalan bersamaan bisa menghapus apa yang sedang dibaca.',
  'warn.REPO_UNAUTHENTICATED':
    'peringatan: repositori di {location} tidak terautentikasi (formatnya lebih lama dari autentikasi): siapa pun yang bisa menulis berkasnya bisa mengubah isi yang dipulihkan dari backup-nya. Jalankan brankas repo upgrade saat tidak ada backup yang berjalan.',
  'repo.upgraded':
    'Repositori {location} ditingkatkan ke format versi 3: {signed} manifest ditandatangani dengan kunci autentikasi yang disimpan di dalam repositori (keys/auth).',
  'repo.upgradedExternal':
    'Repositori {location} ditingkatkan ke format versi 3: {signed} manifest ditandatangani dengan kunci autentikasi di {file}. Simpan berkas itu baik-baik; setiap perintah kini memerlukan BRANKAS_AUTH_KEY_FILE={file}.',
  'repo.upgradeNothing':
    'Repositori {location} sudah terautentikasi (format versi {version}): tidak ada yang perlu dilakukan.',
  'repo.upgradeDamaged':
    'Manifest yang rusak, dibiarkan apa adanya (repo verify melaporkannya): {ids}',
  // Damage and repair (issue #12).
  'repo.verifyGcLeftovers':
    'Catatan: gc yang terputus meninggalkan {entries} entri indeks yang menunjuk {packs} pack yang sudah dihapusnya; tidak ada backup yang membutuhkannya, dan gc berikutnya menghapusnya.',
  'repo.verifyGoneLeftovers':
    'Catatan: {entries} entri indeks menunjuk {packs} pack yang sudah tidak ada, tetapi tidak ada backup yang membutuhkannya; gc berikutnya menghapusnya.',
  'repo.verifyDamageRecorded':
    'Record yang rusak sudah dicatat (damage/{id}): backup berikutnya menyimpan chunk itu lagi, dan repo repair memulihkan indeks.',
  'repo.verifyNotRecorded':
    'record yang rusak tidak bisa dicatat di repositori ({message}): backup berikutnya belum tahu harus menyimpan chunk itu lagi sampai verify bisa mencatatnya',
  'repo.statsDamagedRuns':
    "{count} run indeks rusak: chunk-nya tidak terhitung dalam angka ini. Jalankan 'brankas repo repair'.",
  'repo.repairNothing': 'Tidak ada yang perlu diperbaiki.',
  'repo.repairPlan':
    'Uji coba: akan membuang {dropped} entri indeks ({missing} pack hilang, {records} record rusak), menulis ulang {packs} pack, membangun ulang {runs} run indeks yang rusak ({recovered} entri dari pack). Tidak ada yang diubah.',
  'repo.repairDone':
    'Diperbaiki: {dropped} entri indeks dibuang ({missing} pack hilang, {records} record rusak), {packs} pack ditulis ulang, {runs} run indeks yang rusak dibangun ulang ({recovered} entri dari pack).',
  'repo.repairHealed': 'pulih: {backup} ({vm}) {disk}: {chunks} chunk rusak punya salinan utuh',
  'repo.repairUnhealable': 'tidak bisa dipulihkan: {backup} ({vm}) {disk}: {reason}',
  'repo.repairLost': '{lost} chunk tidak punya salinan utuh di mana pun dalam repositori',
  'backup.damagedRow': 'RUSAK',
  'backup.damaged': 'backup {backup} ({vm}) rusak dan tidak bisa di-restore: {reason}',
  'restore.skippedDamaged':
    'backup {backup} dilewati: rusak ({reason}); yang dipakai adalah backup utuh terbaru',
  // Jobs, the per-VM lock and the journal (src/service/).
  'job.kind.backup': 'backup',
  'job.kind.restore': 'restore',
  'job.kind.verify': 'uji restore',
  'job.kind.snapshot': 'operasi snapshot',
  'job.waiting':
    'VM {vm} sedang dipakai: {job} (proses {pid}) mengerjakannya sejak {since}. Menunggu sampai selesai...',
  'job.recoveredStarted':
    'VM {vm} dimatikan oleh {job} yang terhenti (proses {pid}, sudah tidak ada) pada {at} dan tidak pernah dinyalakan lagi: sekarang dinyalakan kembali.',
  'job.recoveredAdopted':
    'VM {vm} dimatikan oleh {job} yang terhenti (proses {pid}, sudah tidak ada) pada {at} dan tidak pernah dinyalakan lagi; kini restore yang menentukan keadaannya (--start menyalakannya).',
  'job.recoverFailed':
    'VM {vm} dimatikan oleh {job} yang terhenti (proses {pid}, sudah tidak ada) pada {at}; gagal menyalakannya kembali: {message}. Perintah brankas berikutnya untuk VM ini akan mencoba lagi.',
  'status.warnLeftOff':
    'peringatan: {vm} dimatikan oleh {job} yang terhenti (proses {pid}, sudah tidak ada) pada {at} dan tidak pernah dinyalakan lagi. Perintah brankas berikutnya untuk VM ini akan menyalakannya kembali (atau: virsh start {vm}).',
  'status.jobRunning': '{vm}: {job} sedang berjalan (proses {pid}, sejak {since}).',
  'backup.committedAnyway':
    'Permintaan berhenti datang setelah backup tersimpan: backup {id} tercatat dan lengkap.',
  'backup.waitsForOff':
    'Berhenti: {vm} sudah diminta mati; menunggu sampai mati untuk menyalakannya kembali (Ctrl-C kedua langsung berhenti, dan perintah brankas berikutnya akan menyalakannya).',
};

// Each command group's messages in a file of its own (src/cli/messages/), one line each here:
// a key missing in Indonesian is a compile error in that file.
const groups = [
  serve,
  schedule,
  service,
  repoCopy,
  files,
  filesReader,
  runMessages,
  doctor,
  doctorBitmaps,
  backupDryRun,
  snapcp,
  consistency,
  host,
  freeze,
  offline,
  usage,
  maintenance,
  jobHistory,
] as const;
type KeysOf<G> = G extends { en: infer E } ? keyof E : never;
type GroupKey = KeysOf<(typeof groups)[number]>;

export type MessageKey = BaseKey | GroupKey;

const catalogs: Record<Lang, Partial<Record<string, string>>> = {
  en: Object.assign({}, en, ...groups.map((g) => g.en)),
  id: Object.assign({}, id, ...groups.map((g) => g.id)),
};

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const catalog = catalogs[lang];
  return (key, params = {}) =>
    catalog[key]!.replace(/\{(\w+)\}/g, (m, name: string) =>
      name in params ? String(params[name]) : m,
    );
}

/** --lang wins; otherwise LANG/LC_ALL/LC_MESSAGES starting with "id" choose Indonesian. */
export function pickLang(flag: string | undefined, env: NodeJS.ProcessEnv): Lang {
  if (flag !== undefined) {
    if (flag === 'en' || flag === 'id') return flag;
    throw new Error(`--lang must be "en" or "id", not "${flag}"`);
  }
  const locale = env['LC_ALL'] || env['LC_MESSAGES'] || env['LANG'] || '';
  return /^id([_.-]|$)/i.test(locale) ? 'id' : 'en';
}
