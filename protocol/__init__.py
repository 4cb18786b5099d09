"""The sync protocol v1 as data, sans-IO: message types, topic grammar, canonical encoding, and the
sender/receiver state machines. No sockets, files, threads or clocks: time is passed in.

Both `edge` and `server` import it; it imports nothing of ours.
"""
