"""Real peers the tests start once per run: the console under gunicorn, and clients no one here wrote."""
