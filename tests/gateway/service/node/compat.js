// Drives a Fabric Gateway with the official Node.js client (@hyperledger/fabric-gateway).
//
// Usage: node compat.js CONNECTION_FILE CHAINCODE [--signer default|native]
// The connection file is one `ledgerlearn network up` writes (endpoint, TLS CA, MSP id, MSP
// folder, channel). Prints one JSON line with what the gateway answered; exits non-zero on an
// unexpected failure.
//
// --signer default: the client's own signer (`signers.newPrivateKeySigner`, `hash.sha256`).
// --signer native: the benchmark's OpenSSL signer (benchmarks/node/nativesigner.js,
// `hash.none`); the output then also holds signatures it made over random messages (for the
// test to check against the ledger's own verifier) and what the gateway answered when the
// proposal, the envelope or the commit status request carried a high-S signature.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { connect, hash, signers } = require('@hyperledger/fabric-gateway');

const { newNativeSigner, lowSDer, derSignature, P256_ORDER, P256_HALF_ORDER } = require(
    '../../../../benchmarks/node/nativesigner',
);

const utf8 = new TextDecoder();

function onlyFile(folder) {
    const files = fs.readdirSync(folder).filter((name) => fs.statSync(path.join(folder, name)).isFile());
    if (files.length !== 1) {
        throw new Error(`${folder} must hold exactly one file, it holds ${files.length}`);
    }
    return fs.readFileSync(path.join(folder, files[0]));
}

function describeError(err) {
    return {
        name: err.name,
        code: err.code,
        message: err.message,
        details: (err.details || []).map((d) => ({ address: d.address, mspId: d.mspId, message: d.message })),
    };
}

/** A signer whose `which`-th signature (1: proposal, 2: envelope, 3: commit status request)
 * has a high S value (the malleable twin of a valid one); the others are low-S. */
function highSOnCall(key, which) {
    let calls = 0;
    return (message) => {
        calls += 1;
        const p1363 = crypto.sign('sha256', message, { key, dsaEncoding: 'ieee-p1363' });
        if (calls !== which) return Promise.resolve(lowSDer(p1363).der);
        let s = BigInt(`0x${p1363.subarray(32).toString('hex')}`);
        if (s <= P256_HALF_ORDER) s = P256_ORDER - s;
        return Promise.resolve(derSignature(p1363.subarray(0, 32), s));
    };
}

/** Low-S signatures as the native signer makes them (`lowSDer` of OpenSSL's P1363 output),
 * over random messages: how many needed s -> n - s, and some of those for the test to check
 * with the ledger's own verifier. Also checks the signer itself against Node's verifier. */
async function nativeSignatures(key, count) {
    const signer = newNativeSigner(key);
    const samples = [];
    let flipped = 0;
    for (let i = 0; i < count; i += 1) {
        const message = crypto.randomBytes(200 + i);
        const low = lowSDer(crypto.sign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }));
        const signed = Buffer.from(await signer(message));
        for (const signature of [low.der, signed]) {
            if (!crypto.verify('sha256', message, { key, dsaEncoding: 'der' }, signature)) {
                throw new Error('a native signature does not verify');
            }
        }
        if (low.flipped) {
            flipped += 1;
            if (samples.length < 8) {
                samples.push({ message: message.toString('hex'), signature: low.der.toString('hex') });
            }
        }
    }
    return { count, flipped, samples };
}

async function highSAnswers(client, identity, key, chaincode, channel) {
    const answers = {};
    for (const [which, call] of [[1, 'proposal'], [2, 'envelope'], [3, 'commitStatus']]) {
        const gateway = connect({
            client, identity, signer: highSOnCall(key, which), hash: hash.none,
            endorseOptions: () => ({ deadline: Date.now() + 15000 }),
            submitOptions: () => ({ deadline: Date.now() + 10000 }),
            commitStatusOptions: () => ({ deadline: Date.now() + 30000 }),
        });
        try {
            const submitted = await gateway.getNetwork(channel).getContract(chaincode)
                .submitAsync('put', { arguments: [`high-s-${call}-${process.pid}`, 'x'] });
            const status = await submitted.getStatus();
            answers[call] = { accepted: true, code: status.code };
        } catch (err) {
            answers[call] = describeError(err);
        } finally {
            gateway.close();
        }
    }
    return answers;
}

async function main() {
    const args = process.argv.slice(2);
    const [connectionFile, chaincode] = args;
    const signerIndex = args.indexOf('--signer');
    const signerKind = signerIndex >= 0 ? args[signerIndex + 1] : 'default';
    if (!connectionFile || !chaincode || !['default', 'native'].includes(signerKind)) {
        throw new Error('usage: node compat.js CONNECTION_FILE CHAINCODE [--signer default|native]');
    }
    const conn = JSON.parse(fs.readFileSync(connectionFile, 'utf8'));
    const base = path.dirname(path.resolve(connectionFile));
    const mspDir = path.resolve(base, conn.msp_dir);
    const client = new grpc.Client(
        conn.endpoint,
        grpc.credentials.createSsl(fs.readFileSync(path.resolve(base, conn.tls_ca_cert))),
    );
    const privateKey = crypto.createPrivateKey(onlyFile(path.join(mspDir, 'keystore')));
    const identity = { mspId: conn.msp_id, credentials: onlyFile(path.join(mspDir, 'signcerts')) };
    const gateway = connect({
        client,
        identity,
        ...(signerKind === 'native'
            ? { signer: newNativeSigner(privateKey), hash: hash.none }
            : { signer: signers.newPrivateKeySigner(privateKey), hash: hash.sha256 }),
        evaluateOptions: () => ({ deadline: Date.now() + 10000 }),
        endorseOptions: () => ({ deadline: Date.now() + 15000 }),
        submitOptions: () => ({ deadline: Date.now() + 10000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 30000 }),
    });
    const out = { signer: signerKind };
    try {
        const network = gateway.getNetwork(conn.channel);
        const contract = network.getContract(chaincode);
        const key = `node-${process.pid}`;

        // submit (endorse, sign, submit, commit status) then evaluate
        await contract.submitTransaction('put', key, 'written by node');
        out.evaluate = utf8.decode(await contract.evaluateTransaction('get', key));

        // asynchronous submit: the result at once, the commit status afterwards
        const counter = `counter-${process.pid}`;
        const submitted = await contract.submitAsync('bump', { arguments: [counter] });
        out.bumpResult = utf8.decode(submitted.getResult());
        out.transactionId = submitted.getTransactionId();
        const status = await submitted.getStatus();
        out.status = {
            code: status.code,
            successful: status.successful,
            blockNumber: status.blockNumber.toString(),
            transactionId: status.transactionId,
        };

        // chaincode events from the block that holds the bump
        const events = await network.getChaincodeEvents(chaincode, { startBlock: status.blockNumber });
        try {
            for await (const event of events) {
                out.event = {
                    eventName: event.eventName,
                    payload: utf8.decode(event.payload),
                    transactionId: event.transactionId,
                    blockNumber: event.blockNumber.toString(),
                    chaincodeName: event.chaincodeName,
                };
                break;
            }
        } finally {
            events.close();
        }

        // refusals: a contract that raises, an unknown contract
        try {
            await contract.submitTransaction('fail', 'refused on purpose');
            out.failError = null;
        } catch (err) {
            out.failError = describeError(err);
        }
        try {
            await network.getContract('no-such-contract').evaluateTransaction('get', key);
            out.unknownChaincodeError = null;
        } catch (err) {
            out.unknownChaincodeError = describeError(err);
        }

        if (signerKind === 'native') {
            out.nativeSignatures = await nativeSignatures(privateKey, 64);
            out.highS = await highSAnswers(client, identity, privateKey, chaincode, conn.channel);
        }
    } finally {
        gateway.close();
        client.close();
    }
    console.log(JSON.stringify(out));
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
