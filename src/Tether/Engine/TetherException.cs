namespace Tether.Engine;

/// <summary>A user-facing failure of a use case: <see cref="Exception.Message"/> is one line naming the bad value.
/// The front ends print it and exit non-zero; the store and the kernel are left as they were.</summary>
public sealed class TetherException(string message, Exception? inner = null) : Exception(message, inner);
