module example.com/gosessions/tools

go 1.25.0
