"""Provisioning: the provincial certificate authority, device enrollment material, broker
configuration, token initialisation, and a whole province set up on one machine (`province`).

A library that the server and the CLI use; it imports neither `edge` nor `server`.
"""
