from qstream.cli import app

app(prog_name="qstream")
