from accountctl.cli import main

main()
