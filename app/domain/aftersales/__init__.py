"""After-sales (售后): refunds, returns, exchanges and reissues, from the platforms, the operators and the stores."""
