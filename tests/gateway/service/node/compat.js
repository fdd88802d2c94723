// Drives a Fabric Gateway with the official Node.js client (@hyperledger/fabric-gateway).
//
// Usage: node compat.js CONNECTION_FILE CHAINCODE
// The connection file is one `ledgerlearn network up` writes (endpoint, TLS CA, MSP id, MSP
// folder, channel). Prints one JSON line with what the gateway answered; exits non-zero on an
// unexpected failure.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { connect, hash, signers } = require('@hyperledger/fabric-gateway');

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

async function main() {
    const [connectionFile, chaincode] = process.argv.slice(2);
    const conn = JSON.parse(fs.readFileSync(connectionFile, 'utf8'));
    const base = path.dirname(path.resolve(connectionFile));
    const mspDir = path.resolve(base, conn.msp_dir);
    const client = new grpc.Client(
        conn.endpoint,
        grpc.credentials.createSsl(fs.readFileSync(path.resolve(base, conn.tls_ca_cert))),
    );
    const gateway = connect({
        client,
        identity: { mspId: conn.msp_id, credentials: onlyFile(path.join(mspDir, 'signcerts')) },
        signer: signers.newPrivateKeySigner(crypto.createPrivateKey(onlyFile(path.join(mspDir, 'keystore')))),
        hash: hash.sha256,
        evaluateOptions: () => ({ deadline: Date.now() + 10000 }),
        endorseOptions: () => ({ deadline: Date.now() + 15000 }),
        submitOptions: () => ({ deadline: Date.now() + 10000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 30000 }),
    });
    const out = {};
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
