"""Excel workbooks and charts from an index table. No Flask."""
