"""The wall: a Dash app reading the database through the read-only role."""
