"""The survey app: kiosk, admin and API over a SQL database."""
