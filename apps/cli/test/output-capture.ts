// SPDX-License-Identifier: Apache-2.0
/**
 * What a function under test writes on stdout or stderr: the stream's write
 * is replaced while it runs (and, for a promise, until it settles).
 */
export async function written<T>(
  stream: NodeJS.WriteStream,
  f: () => T | Promise<T>,
): Promise<{ result: T; text: string }> {
  const write = stream.write;
  let text = '';
  stream.write = ((chunk: string) => {
    text += chunk;
    return true;
  }) as typeof stream.write;
  try {
    const result = await f();
    return { result, text };
  } finally {
    stream.write = write;
  }
}
