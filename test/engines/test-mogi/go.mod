module mogi.local/engines/test-mogi

go 1.26.0
