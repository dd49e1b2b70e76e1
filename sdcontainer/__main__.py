from sdcontainer.entry import main

main()
