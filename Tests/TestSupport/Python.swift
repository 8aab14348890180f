import Foundation

/// python3 if it can import h5py (tests that read our files with h5py skip otherwise).
public func findPythonWithH5py() -> String? {
    for candidate in ["/usr/bin/env"] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: candidate)
        p.arguments = ["python3", "-c", "import h5py"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        do { try p.run(); p.waitUntilExit() } catch { return nil }
        if p.terminationStatus == 0 { return "python3" }
    }
    return nil
}

public struct PythonFailure: Error, CustomStringConvertible {
    public var output: String
    public var description: String { "python failed:\n\(output)" }
}

/// Runs a Python snippet (for reading our outputs with h5py in tests); returns stdout, throws on failure.
public func runPython(_ python: String, _ code: String, args: [String] = []) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [python, "-c", code] + args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let stdout = String(decoding: o, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw PythonFailure(output: stdout + String(decoding: e, as: UTF8.self)) }
    return stdout
}
