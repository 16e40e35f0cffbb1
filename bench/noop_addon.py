"""A script addon that does nothing: the baseline the benchmarks compare the addon with, so
both runs pay for loading a script."""


class NoOp:
    def requestheaders(self, flow: object) -> None:
        pass

    def request(self, flow: object) -> None:
        pass

    def response(self, flow: object) -> None:
        pass


addons = [NoOp()]
