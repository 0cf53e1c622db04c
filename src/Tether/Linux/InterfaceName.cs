using System.Text;

namespace Tether.Linux;

/// <summary>The kernel's rules for interface names (net/core/dev.c dev_valid_name; IFNAMSIZ from linux/if.h).</summary>
public static class InterfaceName
{
    /// <summary>Longest name in bytes: IFNAMSIZ (16) minus the terminating NUL.</summary>
    public const int MaxLength = Iff.IFNAMSIZ - 1;

    /// <summary>
    /// Checks that <paramref name="name"/> is a name the kernel accepts: 1..15 UTF-8 bytes, no '/', ':', NUL or whitespace,
    /// not "." or "..". Throws <see cref="ArgumentException"/> naming the value, e.g.
    /// <c>interface name "averyveryverylongname" is longer than 15 bytes</c>.
    /// </summary>
    public static void Validate(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0) throw new ArgumentException("interface name is empty", nameof(name));
        int bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes > MaxLength) throw new ArgumentException($"interface name \"{name}\" is longer than {MaxLength} bytes", nameof(name));
        if (name is "." or "..") throw new ArgumentException($"interface name \"{name}\" is not allowed", nameof(name));
        foreach (var c in name)
        {
            if (c == '/' || c == ':' || c == '\0')
                throw new ArgumentException($"interface name \"{name}\" contains '{(c == '\0' ? "\\0" : c.ToString())}'", nameof(name));
            if (char.IsWhiteSpace(c)) throw new ArgumentException($"interface name \"{name}\" contains whitespace", nameof(name));
        }
    }

    /// <summary>True when <see cref="Validate"/> would accept <paramref name="name"/>.</summary>
    public static bool IsValid(string? name)
    {
        if (name == null) return false;
        try { Validate(name); return true; }
        catch (ArgumentException) { return false; }
    }
}
