"""Operations: the command line, configuration, workers, embedded services and the provider sandbox."""
