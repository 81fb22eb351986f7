import Compute
print(Engine.libraryVersion)
