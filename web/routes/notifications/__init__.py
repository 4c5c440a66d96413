"""The notification centre: a person's notifications, marking them read, and their mail preferences."""
