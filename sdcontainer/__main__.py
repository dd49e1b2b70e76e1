from sdcontainer.cli import main

main()
