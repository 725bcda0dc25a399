// denoise: the command-line front end. Parses arguments and calls the libraries; no logic here.

import ArgumentParser
import DenoiseServer
import Imaging
import ModelIO
import Tensors

@main
struct Denoise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denoise",
        abstract: "Diffusion models on the CPU: generate, serve, fine-tune.",
        subcommands: [Version.self, Generate.self, Serve.self, Train.self, Finetune.self, Inspect.self, Eval.self, Import.self, Export.self, Bench.self])
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print versions of denoise and the libraries it links.")

    func run() {
        print("denoise 0.1.0")
        print("OpenBLAS: \(CPU.blasDescription)")
        print("libpng: \(ImagingLibrary.pngVersion)")
        print("libmicrohttpd: \(ServerLibrary.microhttpdVersion)")
        print("libprotobuf-c: \(ModelIOLibrary.protobufCVersion)")
    }
}
