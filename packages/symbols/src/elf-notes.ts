// SPDX-License-Identifier: Apache-2.0
/**
 * ELF note parsing, shared by ELF files and the kernel's /sys/kernel/notes. A note is three
 * 32-bit words (name size, descriptor size, type), then the name and the descriptor, each
 * padded so the next item starts at the section's alignment (4, or 8 for .note.gnu.property),
 * counted from the start of the note (gABI "Note Section"; glibc's _dl_process_pt_note).
 */

/** NT_GNU_BUILD_ID from <elf.h>: a note of owner "GNU" whose descriptor is the build id. */
const NT_GNU_BUILD_ID = 3;
const NOTE_HEADER_SIZE = 12;

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * The GNU build id in a block of little-endian notes, as lowercase hex, or undefined when there
 * is none. A truncated block ends the search rather than throwing: notes are optional.
 */
export function findGnuBuildId(notes: Buffer, alignment = 4): string | undefined {
  const step = alignment === 8 ? 8 : 4;
  let offset = 0;
  while (offset + NOTE_HEADER_SIZE <= notes.length) {
    const nameSize = notes.readUInt32LE(offset);
    const descriptorSize = notes.readUInt32LE(offset + 4);
    const type = notes.readUInt32LE(offset + 8);
    const nameStart = offset + NOTE_HEADER_SIZE;
    const descriptorStart = offset + alignUp(NOTE_HEADER_SIZE + nameSize, step);
    const descriptorEnd = descriptorStart + descriptorSize;
    if (descriptorEnd > notes.length) return undefined;
    if (
      type === NT_GNU_BUILD_ID &&
      nameSize === 4 &&
      notes.toString('latin1', nameStart, nameStart + 4) === 'GNU\0' &&
      descriptorSize > 0
    )
      return notes.toString('hex', descriptorStart, descriptorEnd);
    offset += alignUp(descriptorEnd - offset, step);
  }
  return undefined;
}
