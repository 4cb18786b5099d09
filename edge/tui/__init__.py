"""The Textual kiosk the officers use (`sohoa edge tui`): screens, widgets, the app factory.

`edge.tui.app.make_kiosk` builds it; importing this package imports no Textual (the CLI imports
the kiosk only when `sohoa edge tui` runs).
"""
