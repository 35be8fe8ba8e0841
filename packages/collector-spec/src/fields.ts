// SPDX-License-Identifier: Apache-2.0
/**
 * Integer fields of requests, with the messages every API and CLI gives for
 * them: shared by the controller's REST contract and the profile selection.
 */
import { z } from 'zod';

/** The message of an integer outside [min, max]. */
export const betweenMessage = (min: number, max: number) => (iss: { input?: unknown }) =>
  `must be between ${min} and ${max}, got ${String(iss.input)}`;

/**
 * An integer from min to max. In a query string (or, for compatibility, a
 * body) it may come as a string of digits; the document states the number.
 * Optional: an empty query value counts as absent, so a default applies.
 */
export function queryInteger(min: number, max: number) {
  return z
    .preprocess(
      (raw) =>
        raw === ''
          ? undefined
          : typeof raw === 'string' && /^-?\d+$/.test(raw.trim())
            ? Number(raw)
            : raw,
      z
        .int({ error: (iss) => `must be an integer, got ${JSON.stringify(iss.input)}` })
        .min(min, { error: betweenMessage(min, max) })
        .max(max, { error: betweenMessage(min, max) })
        .optional(),
    )
    .optional();
}

/**
 * A kernel id in a JSON body: a number, never a string of digits ("1" for 1
 * is a client bug better refused than guessed).
 */
export function jsonInteger(min: number, max: number) {
  return z
    .number({
      error: (iss) => `must be an integer (a JSON number), got ${JSON.stringify(iss.input)}`,
    })
    .int({ error: (iss) => `must be an integer, got ${JSON.stringify(iss.input)}` })
    .min(min, { error: betweenMessage(min, max) })
    .max(max, { error: betweenMessage(min, max) });
}
