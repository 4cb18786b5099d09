"""The sync protocol v1 as data, sans-IO: message types, topic grammar, canonical encoding, and the
sender/receiver state machines. No sockets, files, threads or clocks: time is passed in.

Both `edge` and `server` import it; it imports nothing of ours.

    schema     schema ids `sohoa.<type>/<version>` and which versions this side reads
    topics     the topic grammar, who writes and reads what, what is retained
    messages   result (whole), manifest, chunk, ack; size limits
    reasons    why a result is rejected: one enum for acks, decode errors and verdicts
    status     the heartbeat (retained; also the last will)
    commands   commands to a device and its replies
    encoding   canonical bytes and the strict decoder (DecodeError / VersionMismatchError)
    sender     the device's state machine: window, retransmission, chunking, resume
    chunking   a transmission's messages from a PDF; reassembly checks on the server
    receiver   the ingest worker's state machine: staging, reassembly, duplicates, acks
"""
