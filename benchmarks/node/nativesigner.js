// A Fabric signer for @hyperledger/fabric-gateway built on Node's own crypto (OpenSSL).
//
// The client's default P-256 signer (`signers.newPrivateKeySigner`) computes ECDSA in pure
// JavaScript (@noble/curves), about 1.4 ms of CPU per signature, three signatures per
// transaction. The client's documented extension point is the `signer` and `hash` options of
// `connect()`: with `hash: hash.none` the signer receives the message itself (as the client's
// own Ed25519 signer does), so OpenSSL can hash and sign it in one call.
//
// Fabric accepts only low-S ECDSA signatures (s <= n/2; its BCCSP refuses the malleable twin
// (r, n - s)), and OpenSSL makes either. So the signature is taken in IEEE P1363 form (r || s,
// 32 bytes each), s replaced by n - s when s > n/2, and the pair encoded as DER, as Fabric
// expects.
'use strict';

const crypto = require('node:crypto');

/** Order of the P-256 base point. */
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const P256_HALF_ORDER = P256_ORDER >> 1n;

function bigintFromBytes(bytes) {
    return BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
}

function bytesFromBigint(value, length) {
    return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/** DER INTEGER of a non-negative big-endian number: minimal length, a 0x00 before a high bit. */
function derInteger(bytes) {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
    let body = bytes.subarray(start);
    if (body[0] & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }`; r as 32 big-endian bytes, s as a BigInt. */
function derSignature(r, s) {
    const body = Buffer.concat([derInteger(r), derInteger(bytesFromBigint(s, 32))]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/**
 * DER of a P1363 P-256 signature (r || s), with s made low (<= n/2).
 * Returns `{ der, flipped }`; `flipped` says whether s was replaced by n - s.
 */
function lowSDer(p1363) {
    if (p1363.length !== 64) {
        throw new Error(`expected a 64-byte P-256 signature (r || s), got ${p1363.length} bytes`);
    }
    let s = bigintFromBytes(p1363.subarray(32));
    const flipped = s > P256_HALF_ORDER;
    if (flipped) s = P256_ORDER - s;
    return { der: derSignature(p1363.subarray(0, 32), s), flipped };
}

/**
 * A `Signer` for `connect({ hash: hash.none, signer })`: SHA-256 and ECDSA P-256 by OpenSSL
 * over the whole message, low-S DER as Fabric requires.
 */
function newNativeSigner(privateKey) {
    const key = privateKey instanceof crypto.KeyObject ? privateKey : crypto.createPrivateKey(privateKey);
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ec'
            || key.asymmetricKeyDetails.namedCurve !== 'prime256v1') {
        throw new Error('the native signer needs a P-256 (prime256v1) EC private key, '
            + `got ${key.type} ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`);
    }
    return (message) => {
        const p1363 = crypto.sign('sha256', message, { key, dsaEncoding: 'ieee-p1363' });
        return Promise.resolve(new Uint8Array(lowSDer(p1363).der));
    };
}

module.exports = { newNativeSigner, lowSDer, derSignature, P256_ORDER, P256_HALF_ORDER };
