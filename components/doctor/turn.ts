/**
 * A TURN client, just enough to prove a relay works from the outside (RFC 8489 STUN, RFC 8656 TURN):
 * a Binding request (our address as the server sees it), an Allocate with the long-term credentials
 * Synapse hands out, a permission for our own address, and one datagram sent from a second socket to
 * the relayed address, which must come back as a Data indication. That round trip crosses the relay
 * range from the Internet, so a wrong `external-ip` or a closed relay range fails it.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";

const MAGIC_COOKIE = 0x2112a442;
const METHOD = { binding: 0x001, allocate: 0x003, refresh: 0x004, createPermission: 0x008, dataIndication: 0x017 };
const ATTR = {
  mappedAddress: 0x0001,
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  data: 0x0013,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
  xorMappedAddress: 0x0020,
};
const CLASS = { request: 0x0000, indication: 0x0010, success: 0x0100, error: 0x0110 };
const UDP_PROTOCOL = 17;

export interface Address {
  address: string;
  port: number;
}

interface Message {
  type: number;
  transactionId: Buffer;
  attributes: Map<number, Buffer>;
}

function attribute(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

function xorAddress(address: Address): Buffer {
  const parts = address.address.split(".").map(Number);
  if (parts.length !== 4) throw new Error(`IPv4 only here, not ${address.address}`);
  const value = Buffer.alloc(8);
  value[1] = 0x01;
  value.writeUInt16BE(address.port ^ (MAGIC_COOKIE >>> 16), 2);
  value.writeUInt32BE((Buffer.from(parts).readUInt32BE(0) ^ MAGIC_COOKIE) >>> 0, 4);
  return value;
}

function readXorAddress(value: Buffer): Address {
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  if (value[1] !== 0x01) return { address: "(IPv6)", port };
  const raw = Buffer.alloc(4);
  raw.writeUInt32BE((value.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0, 0);
  return { address: [...raw].join("."), port };
}

/** Long-term credentials: HMAC-SHA1 keyed with MD5(username:realm:password). */
export interface Credentials {
  username: string;
  password: string;
  realm?: string;
  nonce?: string;
}

/** Encodes a message; with credentials that have a realm, adds USERNAME, REALM, NONCE and MESSAGE-INTEGRITY. */
export function encode(type: number, transactionId: Buffer, attributes: Buffer[], credentials?: Credentials): Buffer {
  const authenticated = credentials?.realm !== undefined && credentials.nonce !== undefined;
  const body = Buffer.concat([
    ...attributes,
    ...(authenticated
      ? [
          attribute(ATTR.username, Buffer.from(credentials.username)),
          attribute(ATTR.nonce, Buffer.from(credentials.nonce!)),
          attribute(ATTR.realm, Buffer.from(credentials.realm!)),
        ]
      : []),
  ]);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(header, 8);
  if (!authenticated) {
    header.writeUInt16BE(body.length, 2);
    return Buffer.concat([header, body]);
  }
  // The length covers MESSAGE-INTEGRITY (24 bytes), which is computed over everything before it.
  header.writeUInt16BE(body.length + 24, 2);
  const key = createHash("md5").update(`${credentials.username}:${credentials.realm}:${credentials.password}`).digest();
  const integrity = createHmac("sha1", key)
    .update(Buffer.concat([header, body]))
    .digest();
  return Buffer.concat([header, body, attribute(ATTR.messageIntegrity, integrity)]);
}

/** Decodes one message, or undefined when `data` does not start with a whole STUN message. */
export function decode(data: Buffer): (Message & { length: number }) | undefined {
  if (data.length < 20 || data.readUInt32BE(4) !== MAGIC_COOKIE || (data[0] & 0xc0) !== 0) return undefined;
  const length = 20 + data.readUInt16BE(2);
  if (data.length < length) return undefined;
  const attributes = new Map<number, Buffer>();
  for (let offset = 20; offset + 4 <= length;) {
    const type = data.readUInt16BE(offset);
    const size = data.readUInt16BE(offset + 2);
    if (!attributes.has(type)) attributes.set(type, data.subarray(offset + 4, offset + 4 + size));
    offset += 4 + size + ((4 - (size % 4)) % 4);
  }
  return { type: data.readUInt16BE(0), transactionId: data.subarray(8, 20), attributes, length };
}

function errorOf(message: Message): { code: number; reason: string } | undefined {
  const value = message.attributes.get(ATTR.errorCode);
  if (!value) return undefined;
  return { code: (value[2] & 0x7) * 100 + value[3], reason: value.subarray(4).toString("utf8") };
}

/** One control connection to a TURN server: UDP, or TLS (STUN messages back to back on the stream). */
class Control {
  private buffered = Buffer.alloc(0);
  private readonly waiting: ((message: Message) => boolean)[] = [];
  readonly indications: Message[] = [];
  private onIndication?: () => void;

  private constructor(
    private readonly send: (data: Buffer) => void,
    readonly close: () => void,
  ) {}

  static udp(server: Address): Promise<Control> {
    const socket: UdpSocket = createSocket("udp4");
    const control = new Control(
      (data) => socket.send(data, server.port, server.address),
      () => socket.close(),
    );
    socket.on("message", (data) => control.receive(data));
    return new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, () => resolve(control));
    });
  }

  static tls(server: Address, options: ConnectionOptions): Promise<Control> {
    return new Promise((resolve, reject) => {
      const socket: TLSSocket = tlsConnect({ host: server.address, port: server.port, ...options }, () =>
        resolve(control),
      );
      const control = new Control(
        (data) => socket.write(data),
        () => socket.destroy(),
      );
      socket.on("data", (data: Buffer) => control.stream(data));
      socket.once("error", reject);
    });
  }

  private stream(data: Buffer) {
    this.buffered = Buffer.concat([this.buffered, data]);
    for (let message = decode(this.buffered); message; message = decode(this.buffered)) {
      this.buffered = this.buffered.subarray(message.length);
      this.deliver(message);
    }
  }

  private receive(data: Buffer) {
    const message = decode(data);
    if (message) this.deliver(message);
  }

  private deliver(message: Message) {
    if ((message.type & 0x0110) === CLASS.indication) {
      this.indications.push(message);
      this.onIndication?.();
      return;
    }
    const index = this.waiting.findIndex((accept) => accept(message));
    if (index >= 0) this.waiting.splice(index, 1);
  }

  /** Sends a request and waits for its answer (retransmitted every 500 ms on UDP, as RFC 8489 allows). */
  request(method: number, attributes: Buffer[], credentials: Credentials | undefined, timeoutMs: number) {
    const transactionId = randomBytes(12);
    const data = encode(method | CLASS.request, transactionId, attributes, credentials);
    return new Promise<Message>((resolve, reject) => {
      const retry = setInterval(() => this.send(data), 500);
      const timer = setTimeout(() => {
        clearInterval(retry);
        reject(new Error(`no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting.push((message) => {
        if (!message.transactionId.equals(transactionId)) return false;
        clearInterval(retry);
        clearTimeout(timer);
        resolve(message);
        return true;
      });
      this.send(data);
    });
  }

  /** Resolves with the first Data indication carrying `payload`, or undefined after `timeoutMs`. */
  dataIndication(payload: Buffer, timeoutMs: number): Promise<Address | undefined> {
    const find = () =>
      this.indications.find(
        (m) => m.type === (METHOD.dataIndication | CLASS.indication) && m.attributes.get(ATTR.data)?.equals(payload),
      );
    return new Promise((resolve) => {
      const done = (message: Message | undefined) => {
        clearTimeout(timer);
        this.onIndication = undefined;
        const peer = message?.attributes.get(ATTR.xorPeerAddress);
        resolve(message ? (peer ? readXorAddress(peer) : { address: "?", port: 0 }) : undefined);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.onIndication = () => {
        const found = find();
        if (found) done(found);
      };
      this.onIndication();
    });
  }
}

export interface TurnProbe {
  /** Our address as the server saw it (XOR-MAPPED-ADDRESS of the allocation). */
  mapped?: Address;
  /** The relayed transport address the server allocated. */
  relayed?: Address;
  /** Whether a datagram sent to the relayed address from another socket came back through the relay. */
  relayRoundTrip: boolean;
  /** Milliseconds from the first request to the datagram's return (or to the failure). */
  ms: number;
  /** What went wrong, when something did. */
  error?: string;
}

/**
 * Allocates a relay on `server` (over UDP, or TLS when `tls` is given) with Synapse's credentials, lets
 * our own address send to it, sends one datagram to the relayed address and waits for it to come back.
 * Frees the allocation before returning.
 */
export async function probeTurn(
  server: Address,
  credentials: { username: string; password: string },
  options: { tls?: ConnectionOptions; timeoutMs?: number } = {},
): Promise<TurnProbe> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 5000;
  const result: TurnProbe = { relayRoundTrip: false, ms: 0 };
  let control: Control | undefined;
  let auth: Credentials | undefined;
  const peer = createSocket("udp4");
  try {
    control = options.tls ? await Control.tls(server, options.tls) : await Control.udp(server);
    const transport = attribute(ATTR.requestedTransport, Buffer.from([UDP_PROTOCOL, 0, 0, 0]));
    let answer = await control.request(METHOD.allocate, [transport], undefined, timeoutMs);
    const challenge = errorOf(answer);
    if (challenge?.code === 401) {
      auth = {
        ...credentials,
        realm: answer.attributes.get(ATTR.realm)?.toString("utf8") ?? "",
        nonce: answer.attributes.get(ATTR.nonce)?.toString("utf8") ?? "",
      };
      answer = await control.request(METHOD.allocate, [transport], auth, timeoutMs);
    }
    const refused = errorOf(answer);
    if (refused) throw new Error(`Allocate refused: ${refused.code} ${refused.reason}`);
    const relayed = answer.attributes.get(ATTR.xorRelayedAddress);
    const mapped = answer.attributes.get(ATTR.xorMappedAddress);
    if (!relayed) throw new Error("Allocate answered without a relayed address");
    result.relayed = readXorAddress(relayed);
    if (mapped) result.mapped = readXorAddress(mapped);

    // Our peer socket sends from our own address (as the server saw it) and its own port.
    await new Promise<void>((resolve) => peer.bind(0, resolve));
    const self = result.mapped?.address ?? server.address;
    const permitted = await control.request(
      METHOD.createPermission,
      [attribute(ATTR.xorPeerAddress, xorAddress({ address: self, port: 0 }))],
      auth,
      timeoutMs,
    );
    const notPermitted = errorOf(permitted);
    if (notPermitted) throw new Error(`CreatePermission refused: ${notPermitted.code} ${notPermitted.reason}`);
    const payload = randomBytes(16);
    const back = control.dataIndication(payload, timeoutMs);
    const sendPeer = () => peer.send(payload, result.relayed!.port, result.relayed!.address);
    sendPeer();
    const resend = setInterval(sendPeer, 500);
    const from = await back;
    clearInterval(resend);
    result.relayRoundTrip = from !== undefined;
    if (!from)
      result.error = `a datagram sent to the relayed address ${result.relayed.address}:${result.relayed.port} never came back through the relay`;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
  } finally {
    if (control && result.relayed) {
      // Lifetime 0 frees the allocation now rather than in 10 minutes.
      await control
        .request(METHOD.refresh, [attribute(ATTR.lifetime, Buffer.from([0, 0, 0, 0]))], auth, 2000)
        .catch(() => undefined);
    }
    control?.close();
    peer.close();
    result.ms = Date.now() - started;
  }
  return result;
}

/** A Binding request (no credentials): our address as `server` sees it, or undefined. */
export async function stunBinding(server: Address, timeoutMs = 3000): Promise<Address | undefined> {
  const control = await Control.udp(server);
  try {
    const answer = await control.request(METHOD.binding, [], undefined, timeoutMs);
    const mapped = answer.attributes.get(ATTR.xorMappedAddress);
    return mapped ? readXorAddress(mapped) : undefined;
  } catch {
    return undefined;
  } finally {
    control.close();
  }
}
