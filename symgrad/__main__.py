from symgrad.cli import run

run()
