"""gunicorn's settings for `make serve` and the tests' live console (command-line flags override them)."""

wsgi_app = "console.wsgi:application"
workers = 2
