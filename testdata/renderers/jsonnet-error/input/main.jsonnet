local f(x) = f(x + 1);
{ a: f(0) }
