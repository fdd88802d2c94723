"""SerializingHandler on its own: a fake stream and context stand in for gRPC."""

from __future__ import annotations

import asyncio

from fabric_protos.peer import chaincode_pb2, chaincode_shim_pb2, proposal_pb2
from fabric_protos.peer.proposal_response_pb2 import Response

from ledgerlearn.fabric.contracts import build_chaincode
from ledgerlearn.fabric.handler import SerializedStream, SerializingHandler

Msg = chaincode_shim_pb2.ChaincodeMessage


class RecordingContext:
    """Records writes and fails when two overlap, as gRPC does."""

    def __init__(self) -> None:
        self.written: list[Msg] = []
        self._busy = False

    async def write(self, message: Msg) -> None:
        if self._busy:
            raise RuntimeError("GRPC_CALL_ERROR_TOO_MANY_OPERATIONS")
        self._busy = True
        await asyncio.sleep(0.001)
        self.written.append(message)
        self._busy = False


def test_serialized_stream_never_overlaps_writes_and_keeps_their_order() -> None:
    async def main() -> list[bytes]:
        context = RecordingContext()
        stream = SerializedStream(context)
        await asyncio.gather(*(stream.write(Msg(payload=bytes([i]))) for i in range(50)))
        return [m.payload for m in context.written]

    assert asyncio.run(main()) == [bytes([i]) for i in range(50)]


def test_the_bare_context_does_overlap() -> None:
    """The recording context is a fair stand-in: unserialized concurrent writes fail."""

    async def main() -> list:
        context = RecordingContext()
        return await asyncio.gather(
            *(context.write(Msg()) for _ in range(5)), return_exceptions=True
        )

    assert any(isinstance(r, RuntimeError) for r in asyncio.run(main()))


def test_a_peer_leaving_mid_transaction_ends_the_conversation() -> None:
    """The contract waits for a GET_STATE answer that never comes; the stream then ends."""
    chaincode = build_chaincode(["fabric_sample_contract:KeyValueContract"])
    transaction = Msg(
        type=Msg.TRANSACTION,
        txid="tx1",
        channel_id="mychannel",
        payload=chaincode_pb2.ChaincodeInput(args=[b"get", b"k"]).SerializeToString(),
    )

    async def peer_messages():
        yield Msg(type=Msg.REGISTERED)
        yield Msg(type=Msg.READY)
        yield transaction
        await asyncio.sleep(0.2)  # the chaincode sends GET_STATE; no answer; the peer leaves

    async def main() -> list[Msg]:
        context = RecordingContext()
        handler = SerializingHandler("learning_1.0:00", chaincode)
        await asyncio.wait_for(handler.chat_with_peer(peer_messages(), context), 5)
        return context.written

    written = asyncio.run(main())
    assert [m.type for m in written] == [Msg.REGISTER, Msg.GET_STATE, Msg.COMPLETED]
    response = Response.FromString(written[-1].payload)
    assert response.status == 500
    assert "the peer closed the chaincode stream" in response.message


def test_an_undecodable_proposal_is_answered_with_error_not_silence() -> None:
    chaincode = build_chaincode(["fabric_sample_contract:KeyValueContract"])
    transaction = Msg(
        type=Msg.TRANSACTION,
        txid="tx2",
        channel_id="mychannel",
        payload=chaincode_pb2.ChaincodeInput(args=[b"get", b"k"]).SerializeToString(),
        proposal=proposal_pb2.SignedProposal(proposal_bytes=b"\xff\xff not a proposal"),
    )

    async def peer_messages():
        yield Msg(type=Msg.REGISTERED)
        yield Msg(type=Msg.READY)
        yield transaction
        await asyncio.sleep(0.1)

    async def main() -> list[Msg]:
        context = RecordingContext()
        await asyncio.wait_for(
            SerializingHandler("learning_1.0:00", chaincode).chat_with_peer(
                peer_messages(), context
            ),
            5,
        )
        return context.written

    written = asyncio.run(main())
    assert [m.type for m in written] == [Msg.REGISTER, Msg.ERROR]
    assert (written[-1].txid, written[-1].channel_id) == ("tx2", "mychannel")
    assert written[-1].payload.startswith(b"chaincode failed to handle the transaction")
