"""Settings: the one mechanism that checks every setting (`schema`), Hydra composition of the shipped configs (`compose`) and the commands' help texts (`help`)."""
