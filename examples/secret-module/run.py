"""Public entry script: it is embedded in the room, everyone reads it.

Inside the enclave it imports Carol's secret module (the code node
secret_module, which the room pins by hash), gives it Dave's sales as
bytes and writes what it returns. It prints nothing: the logs are hidden
anyway, and neither the rows nor the module's secrets leave but through
the summary.
"""
from dcr_enclave import Enclave

with Enclave() as enclave:
    import secret_module  # /code/secret_module.py: no sys.path tricks

    tables = list(enclave.read())  # the bytes of each data input, never the code
    enclave.write(secret_module.summarize(tables), "summary.csv")
