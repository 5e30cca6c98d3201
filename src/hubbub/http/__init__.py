"""hubbub's HTTP/1.1 server: connections, requests, answers, the route table, caps.

It imports nothing of the node or the routes: a server is handed its route table
(``routes.py``), what its connections share (``context.py``), and the application object
routes reach the node through (``Request.app``).
"""
