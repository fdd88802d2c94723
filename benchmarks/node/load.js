// Load on a Fabric Gateway from the official Node.js client (@hyperledger/fabric-gateway).
//
// Usage: node load.js CONNECTION_FILE [--n 2000] [--in-flight 50] [--chaincode kv]
//                     [--contract NAME] [--signer default|native]
// The connection file is one `ledgerlearn network up` writes (endpoint, TLS CA, MSP id, MSP
// folder, channel); a Fabric peer's works as well. Submits N `put(key, value)` transactions,
// each a new key, keeping IN_FLIGHT of them going at once, each as the official samples do:
// `submitAsync` (Endorse, sign, Submit) then `getStatus` (CommitStatus). The last line printed
// is JSON: committed tx/s, submit-to-commit latency, errors, the client's CPU per transaction.
//
// --signer default (what an application following the client's documentation gets):
// `signers.newPrivateKeySigner` with `hash.sha256`, ECDSA in pure JavaScript. --signer native:
// `nativesigner.js` with `hash.none`, ECDSA by Node's OpenSSL, low-S as Fabric requires.
// --contract NAME submits `NAME:put` (a chaincode serving several contracts).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { connect, hash, signers } = require('@hyperledger/fabric-gateway');
const { newNativeSigner } = require('./nativesigner');

const USAGE = 'usage: node load.js CONNECTION_FILE [--n 2000] [--in-flight 50] [--chaincode kv] '
    + '[--contract NAME] [--signer default|native]';

function onlyFile(folder) {
    const files = fs.readdirSync(folder).filter((name) => fs.statSync(path.join(folder, name)).isFile());
    if (files.length !== 1) {
        throw new Error(`${folder} must hold exactly one file, it holds ${files.length}`);
    }
    return fs.readFileSync(path.join(folder, files[0]));
}

function options(argv) {
    const opts = { n: 2000, inFlight: 50, chaincode: 'kv', contract: null, signer: 'default', connectionFile: null };
    for (let i = 0; i < argv.length; i += 1) {
        const arg = argv[i];
        if (arg === '--n') opts.n = Number(argv[++i]);
        else if (arg === '--in-flight') opts.inFlight = Number(argv[++i]);
        else if (arg === '--chaincode') opts.chaincode = argv[++i];
        else if (arg === '--contract') opts.contract = argv[++i];
        else if (arg === '--signer') opts.signer = argv[++i];
        else if (opts.connectionFile === null) opts.connectionFile = arg;
        else throw new Error(`unexpected argument ${arg}`);
    }
    if (opts.connectionFile === null || !(opts.n > 0) || !(opts.inFlight > 0)) {
        throw new Error(USAGE);
    }
    if (!['default', 'native'].includes(opts.signer)) {
        throw new Error(`--signer must be default or native, got ${opts.signer}; ${USAGE}`);
    }
    return opts;
}

function percentile(sorted, q) {
    return sorted.length ? sorted[Math.floor(q * (sorted.length - 1))] : null;
}

/** The `signer` and `hash` options of `connect()` for `--signer`. */
function signing(kind, key) {
    if (kind === 'native') return { signer: newNativeSigner(key), hash: hash.none };
    return { signer: signers.newPrivateKeySigner(key), hash: hash.sha256 };
}

async function main() {
    const opts = options(process.argv.slice(2));
    const conn = JSON.parse(fs.readFileSync(opts.connectionFile, 'utf8'));
    const base = path.dirname(path.resolve(opts.connectionFile));
    const mspDir = path.resolve(base, conn.msp_dir);
    const client = new grpc.Client(
        conn.endpoint,
        grpc.credentials.createSsl(fs.readFileSync(path.resolve(base, conn.tls_ca_cert))),
    );
    const gateway = connect({
        client,
        identity: { mspId: conn.msp_id, credentials: onlyFile(path.join(mspDir, 'signcerts')) },
        ...signing(opts.signer, crypto.createPrivateKey(onlyFile(path.join(mspDir, 'keystore')))),
        endorseOptions: () => ({ deadline: Date.now() + 60000 }),
        submitOptions: () => ({ deadline: Date.now() + 60000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 120000 }),
    });
    const network = gateway.getNetwork(conn.channel);
    const contract = opts.contract === null
        ? network.getContract(opts.chaincode)
        : network.getContract(opts.chaincode, opts.contract);
    const value = 'v'.repeat(32);
    const prefix = `node-load-${process.pid}-${Date.now()}`;
    const latencies = [];
    const errors = [];
    let next = 0;

    async function one(key) {
        const t0 = process.hrtime.bigint();
        const commit = await contract.submitAsync('put', { arguments: [key, value] });
        const status = await commit.getStatus();
        if (!status.successful) {
            throw new Error(`transaction ${status.transactionId} committed with code ${status.code}`);
        }
        return Number(process.hrtime.bigint() - t0) / 1e6;
    }

    async function worker() {
        while (next < opts.n) {
            const i = next;
            next += 1;
            try {
                latencies.push(await one(`${prefix}-${i}`));
            } catch (err) {
                errors.push(`${err.name}: ${err.message}`);
            }
        }
    }

    const out = {};
    try {
        await one(`${prefix}-warmup`); // connection and TLS set up before the clock starts
        console.log(JSON.stringify({ warm: true })); // a driver may start its own clocks now
        const cpu0 = process.cpuUsage();
        const start = process.hrtime.bigint();
        await Promise.all(Array.from({ length: Math.min(opts.inFlight, opts.n) }, worker));
        const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
        latencies.sort((a, b) => a - b);
        const cpu = process.cpuUsage(cpu0);
        Object.assign(out, {
            tx_per_s: Math.round((latencies.length / elapsed) * 10) / 10,
            p50_ms: percentile(latencies, 0.5) === null ? null : Math.round(percentile(latencies, 0.5) * 10) / 10,
            p95_ms: percentile(latencies, 0.95) === null ? null : Math.round(percentile(latencies, 0.95) * 10) / 10,
            n: opts.n,
            signer: opts.signer,
            committed: latencies.length,
            in_flight: opts.inFlight,
            elapsed_s: Math.round(elapsed * 100) / 100,
            errors: errors.length,
            first_error: errors.length ? errors[0] : null,
            client_cpu_ms_per_tx: Math.round(((cpu.user + cpu.system) / 1e3 / Math.max(latencies.length, 1)) * 100) / 100,
        });
    } finally {
        gateway.close();
        client.close();
    }
    console.log(JSON.stringify(out));
    process.exitCode = out.errors ? 1 : 0;
}

main().catch((err) => {
    console.error(err);
    process.exit(2);
});
