"""The Textual kiosk application (screens, widgets, stylesheets). Built in the kiosk-UI issue."""
