"""The workflow engine and its definitions (data). Imports nothing from the app."""
