"""The ``revenue`` command: the top layer. It may import the flows and the library; nothing
imports it (``cli.main`` parses the arguments, ``cli.commands`` runs them, ``cli.dev`` is
``revenue dev`` and ``cli.devserver`` how a command finds the server ``revenue dev`` started)."""
