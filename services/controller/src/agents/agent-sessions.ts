// SPDX-License-Identifier: Apache-2.0
/**
 * The agents connected right now: one live AgentControl stream per agent id.
 * In memory only; after a controller restart agents reconnect and register
 * again. A second stream for the same agent (a reconnect racing the old
 * stream's teardown, or a stream after a certificate renewal) replaces the first.
 */
import { Injectable } from '@nestjs/common';
import type { ControllerMessage } from '@fleettrace/proto';

export interface AgentSession {
  readonly agentId: string;
  readonly hostname: string;
  readonly certSerial: string;
  readonly certNotAfterMs: number;
  readonly connectedMs: number;
  /** Queues a message on the stream; false when the stream is gone. Never throws. */
  send(message: ControllerMessage): boolean;
  /** Ends the stream with a gRPC status and a reason the agent logs. */
  close(code: number, reason: string): void;
}

@Injectable()
export class AgentSessions {
  private readonly sessions = new Map<string, AgentSession>();

  get(agentId: string): AgentSession | undefined {
    return this.sessions.get(agentId);
  }

  /** Registers `session`, returning the one it replaces. */
  add(session: AgentSession): AgentSession | undefined {
    const previous = this.sessions.get(session.agentId);
    this.sessions.set(session.agentId, session);
    return previous;
  }

  /** Removes `session` if it is still the current one; true when it was. */
  remove(session: AgentSession): boolean {
    if (this.sessions.get(session.agentId) !== session) return false;
    this.sessions.delete(session.agentId);
    return true;
  }

  get size(): number {
    return this.sessions.size;
  }

  all(): IterableIterator<AgentSession> {
    return this.sessions.values();
  }
}
