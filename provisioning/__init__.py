"""Provisioning: the provincial certificate authority, device enrollment material, broker
configuration and token initialisation.

A library that the server and the CLI use; it imports neither `edge` nor `server`.
"""
