"""Tools for developing the locator: the server launcher, the README generator, the soak run, stand-ins."""
