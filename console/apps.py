from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Jobtrace console"

    def ready(self) -> None:
        from console import converters

        converters.register()
