"""An independent client: reads a corelane JetStream stream with nats-py and reports what
it sees as JSON. Exit status 3 when nats-py is not installed.

usage: jetstream_check.py NATS_URL STREAM COUNT
"""
import asyncio
import json
import sys

try:
    import nats
except ImportError as e:  # the test command installs it: python3 -m pip install nats-py
    print(f"nats-py is not installed: {e}", file=sys.stderr)
    sys.exit(3)


async def main(url: str, stream: str, count: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(stream)
    ids, with_id, records = [], 0, 0
    for seq in range(info.state.first_seq, info.state.first_seq + count):
        msg = await js.get_msg(stream, seq)
        msg_id = (msg.headers or {}).get("Nats-Msg-Id")
        if msg_id:
            with_id += 1
            ids.append(msg_id)
        body = json.loads(msg.data)
        if ("r" in body or "b" in body) and all(k in body for k in ("t", "s", "q")):
            records += 1
    print(json.dumps({
        "subjects": info.config.subjects,
        "storage": info.config.storage.value if hasattr(info.config.storage, "value") else str(info.config.storage),
        "messages": info.state.messages,
        "with_msg_id": with_id,
        "records": records,
        "msg_ids": ids,
    }))
    await nc.close()


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
