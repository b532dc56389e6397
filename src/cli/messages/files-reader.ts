/**
 * Messages of `brankas files` about who read the volume (the host's ext4 reader or a helper
 * VM; src/cli/commands/files.ts), in English and Indonesian.
 */

export const en = {
  'filesReader.host': 'reader: host (ext4 read by brankas, no helper VM)',
  'filesReader.helper': 'reader: helper-vm',
  'filesReader.forced': 'reader: helper-vm (asked for with --helper)',
  'filesReader.unsupported':
    'reader: helper-vm (the ext4 filesystem uses {feature}, which the host reader does not read)',
} as const;

export const id: Record<keyof typeof en, string> = {
  'filesReader.host': 'pembaca: host (ext4 dibaca oleh brankas, tanpa VM pembantu)',
  'filesReader.helper': 'pembaca: helper-vm',
  'filesReader.forced': 'pembaca: helper-vm (diminta dengan --helper)',
  'filesReader.unsupported':
    'pembaca: helper-vm (sistem berkas ext4 memakai {feature}, yang tidak dibaca oleh pembaca di host)',
};
